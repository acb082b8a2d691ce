#!/usr/bin/env node
/**
 * The `sluice` command line. Every command parses the environment once
 * (see .env.example); errors print one clear line and exit non-zero.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { runCommand } from './run-command.ts';
import * as commands from './commands.ts';

function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1)
      throw new InvalidArgumentError(`${name} must be a positive integer, got "${value}"`);
    return n;
  };
}

const program = new Command()
  .name('sluice')
  .description(
    'Queue-driven embedding ingestion: crawl, chunk, embed at the rate limit, dedup by content hash, pgvector.',
  )
  .showHelpAfterError();

program
  .command('ingest')
  .description('enqueue sources, run every worker in this process until the run has finished, print a summary')
  .argument(
    '<source...>',
    'http(s) URLs, local files or directories, or inline JSON documents {"id","text"|"html"|"markdown"}',
  )
  .option('-c, --collection <name>', 'collection to index into', 'default')
  .option('--max-pages <n>', 'pages or files per run (default CRAWL_MAX_PAGES)', positiveInt('--max-pages'))
  .option('--max-depth <n>', 'link depth from each start URL (default CRAWL_MAX_DEPTH)', positiveInt('--max-depth'))
  .option(
    '--delete-missing',
    "after the run, delete the documents of the sources' scopes it did not reach (held on transient failures, truncation or a mass delete)",
  )
  .option(
    '--allow-mass-delete',
    'with --delete-missing: allow deleting more than REINDEX_MAX_DELETE_FRACTION of a scope (does not lift the other holds)',
  )
  .option('--json', 'print exactly one JSON object on stdout')
  .action((sources: string[], opts, cmd: Command) => {
    if (opts.allowMassDelete && !opts.deleteMissing) cmd.error('error: --allow-mass-delete needs --delete-missing');
    return runCommand(() => commands.ingestCommand(sources, opts));
  });

program
  .command('sync')
  .description(
    'upload each unique file once and reuse a vector store for an identical fileset (runs upload/associate workers here)',
  )
  .argument('<source...>', 'local files and directories')
  .option('-c, --collection <name>', 'collection name', 'default')
  .addOption(
    new Option('--sink <sink>', 'where the content goes').choices(['openai', 'pgvector', 'both']).default('openai'),
  )
  .option('--json', 'print exactly one JSON object on stdout')
  .action((sources: string[], opts) => runCommand(() => commands.syncCommand(sources, opts)));

program
  .command('enqueue')
  .description('enqueue sources only (for deployments with separate workers) and print the run and job ids')
  .argument('<source...>', 'as for ingest')
  .option('-c, --collection <name>', 'collection to index into', 'default')
  .option('--max-pages <n>', 'pages or files per run', positiveInt('--max-pages'))
  .option('--max-depth <n>', 'link depth from each start URL', positiveInt('--max-depth'))
  .option('--json', 'print JSON')
  .action((sources: string[], opts) => runCommand(() => commands.enqueueCommand(sources, opts)));

program
  .command('worker')
  .description('run workers for queues (crawl, embed, … or all) until SIGTERM/SIGINT, then drain')
  .argument('[queue...]', 'queue names or "all"', ['all'])
  .action((queues: string[]) => runCommand(() => commands.workerCommand(queues), { keepAlive: true }));

program
  .command('search')
  .description('nearest chunks of a collection by cosine similarity')
  .argument('<query>', 'text to search for')
  .option('-c, --collection <name>', 'collection to search', 'default')
  .option('-k, --k <n>', 'results (1..100)', positiveInt('--k'), 5)
  .option('--json', 'print JSON')
  .action((query: string, opts) => runCommand(() => commands.searchCommand(query, opts)));

program
  .command('export')
  .description('every chunk of a collection as JSON Lines on stdout')
  .argument('<collection>', 'collection name')
  .option('--embeddings', "include each chunk's embedding")
  .action((collection: string, opts) => runCommand(() => commands.exportCommand(collection, opts)));

program
  .command('migrate')
  .description('apply database migrations (also done at every start)')
  .action(() => runCommand(() => commands.migrateCommand()));

program
  .command('status')
  .description('queue counts and document, chunk and embedding counts')
  .option('--json', 'print JSON')
  .action((opts) => runCommand(() => commands.statusCommand(opts)));

program
  .command('retry-failed')
  .description('re-enqueue the failed jobs of a queue (or of every queue)')
  .argument('[queue]', 'queue name')
  .action((queue: string | undefined) => runCommand(() => commands.retryFailedCommand(queue)));

program
  .command('emulator')
  .description('run the OpenAI emulator alone (EMULATOR_* variables configure limits and faults)')
  .option('-p, --port <n>', 'port on 127.0.0.1 (0 = any free port)', (v) => Number(v), 0)
  .option('--host <host>', 'address to bind', '127.0.0.1')
  .action((opts) => runCommand(() => commands.emulatorCommand(opts), { keepAlive: true }));

await program.parseAsync(process.argv);
