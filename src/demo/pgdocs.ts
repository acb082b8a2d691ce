/**
 * `npm run demo`: serves PostgreSQL's HTML manual over HTTP on loopback,
 * ingests it with the sluice CLI (embedded defaults unless configured),
 * then searches it. Arguments after `--` go to the ingest command.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { PG_MANUAL_DIR, requireManual, serveDirectory } from './static-server.ts';

const cli = path.resolve(import.meta.dirname, '../cli/sluice.ts');
requireManual();
const site = await serveDirectory(PG_MANUAL_DIR);
process.stderr.write(`serving ${PG_MANUAL_DIR} at ${site.url}\n`);
const run = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { stdio: 'inherit' }).status ?? 1;
const code = run(['ingest', `${site.url}/index.html`, '--collection', 'pgdocs', ...process.argv.slice(2)]);
if (code === 0) run(['search', 'CREATE INDEX CONCURRENTLY', '--collection', 'pgdocs', '--k', '5']);
await site.close();
process.exit(code);
