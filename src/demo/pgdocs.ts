/**
 * `npm run demo`: serves PostgreSQL's HTML manual over HTTP on loopback,
 * ingests it with the sluice CLI (embedded defaults unless configured),
 * then searches it. Arguments after `--` go to the ingest command.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { PG_MANUAL_DIR, requireManual, serveDirectory } from './static-server.ts';

const cli = path.resolve(import.meta.dirname, '../cli/sluice.ts');
requireManual();
const site = await serveDirectory(PG_MANUAL_DIR);
process.stderr.write(`serving ${PG_MANUAL_DIR} at ${site.url}\n`);
// Asynchronous on purpose: this process also serves the manual to the child.
const run = (args: string[]) =>
  new Promise<number>((resolve) => {
    spawn(process.execPath, [cli, ...args], { stdio: 'inherit' }).on('exit', (code) => resolve(code ?? 1));
  });
const code = await run(['ingest', `${site.url}/index.html`, '--collection', 'pgdocs', ...process.argv.slice(2)]);
if (code === 0) await run(['search', 'CREATE INDEX CONCURRENTLY', '--collection', 'pgdocs', '--k', '5']);
await site.close();
process.exit(code);
