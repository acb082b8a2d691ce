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

function nonNegativeInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be an integer ≥ 0, got "${value}"`);
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

const schedule = program
  .command('schedule')
  .description('recurring re-index runs on BullMQ job schedulers, ticked by `sluice worker schedule`');

schedule
  .command('add')
  .description('add or update a schedule (idempotent); its runs sync deletions')
  .argument('<name>', 'schedule name: letters, digits, "_", "." and "-"')
  .argument('<source...>', 'http(s) URLs (into pgvector), or local files and directories')
  .requiredOption('-c, --collection <name>', 'collection to index into')
  .option('--cron <pattern>', 'cron pattern, e.g. "0 3 * * *" (with --tz)')
  .option('--tz <zone>', 'IANA time zone of --cron, e.g. Europe/Berlin (default: UTC)')
  .option('--every <duration>', 'fixed period instead of --cron: 30s, 15m, 6h, 1h30m')
  .option('--max-pages <n>', 'pages or files per run (default CRAWL_MAX_PAGES)', positiveInt('--max-pages'))
  .addOption(
    new Option('--sink <sink>', 'where local files go (URLs: pgvector only); default pgvector').choices([
      'openai',
      'pgvector',
      'both',
    ]),
  )
  .option('--allow-mass-delete', 'let deletion sync remove more than REINDEX_MAX_DELETE_FRACTION of a scope')
  .option('--json', 'print the schedule as JSON')
  .action((name: string, sources: string[], opts) =>
    runCommand(() => commands.scheduleAddCommand(name, sources, opts)),
  );

schedule
  .command('list')
  .description('schedules with their next run, last run id, last outcome and last success')
  .option('--json', 'print JSON')
  .action((opts) => runCommand(() => commands.scheduleListCommand(opts)));

schedule
  .command('remove')
  .description('remove a schedule (its job scheduler and state)')
  .argument('<name>', 'schedule name')
  .action((name: string) => runCommand(() => commands.scheduleRemoveCommand(name)));

schedule
  .command('run')
  .description('tick a schedule now (same path and overlap rule as its scheduled ticks) and wait for the tick')
  .argument('<name>', 'schedule name')
  .option('--no-wait', 'enqueue the tick and return')
  .option('--json', 'print JSON')
  .action((name: string, opts) => runCommand(() => commands.scheduleRunCommand(name, opts)));

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
  .command('cleanup')
  .description(
    'delete what nobody used for TTL_DAYS: vector stores, files, documents, embeddings (same path as the cleanup worker)',
  )
  .option('--dry-run', 'print what would be deleted, delete nothing')
  .option('--ttl-days <n>', 'unused for this many days (default TTL_DAYS)', positiveInt('--ttl-days'))
  .option('--json', 'print exactly one JSON object on stdout')
  .action((opts) => runCommand(() => commands.cleanupCommand(opts)));

program
  .command('reconcile')
  .description(
    'compare the registry with OpenAI and pgvector and print drift by kind; --fix repairs it (runs associate, upload and embed workers here)',
  )
  .option('-c, --collection <name>', 'only this collection (extra Files and unused embeddings are not checked)')
  .option('--fix', 'repair the drift found, then look again')
  .option(
    '--grace-hours <n>',
    'unknown objects and chunks younger than this are in flight, not drift (default ORPHAN_GRACE_HOURS; 0 counts all)',
    nonNegativeInt('--grace-hours'),
  )
  .option('--json', 'print exactly one JSON object on stdout')
  .action((opts) => runCommand(() => commands.reconcileCommand(opts)));

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
  .option('--state-dir <dir>', 'keep Files and vector stores in this directory across restarts (EMULATOR_STATE_DIR)')
  .action((opts) => runCommand(() => commands.emulatorCommand(opts), { keepAlive: true }));

await program.parseAsync(process.argv);
