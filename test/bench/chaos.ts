/**
 * `npm run chaos` — one ingest of PostgreSQL's HTML manual by URL through
 * separate `sluice worker crawl` and `sluice worker embed` processes, kept
 * alive by a supervisor of the harness's own, while a seeded plan of faults
 * hits it (docs/design.md, "Dependency outages" and "Deadlines and leases"):
 * 20 SIGKILLs of random workers, 3 Redis restarts of 5–15 s (a redis-server
 * of its own, AOF on), 2 PostgreSQL outages of 45 s with connections refused
 * and one 60 s blackhole (a TCP proxy of its own before the machine's
 * PostgreSQL + pgvector), one worker SIGSTOPped for 2 minutes, and three
 * SIGTERMs during a deep budget backlog; the emulator runs in its own
 * process and fails 5 % of requests with 500/503 and drops 1 % of connections.
 *
 * It first runs the same input undisturbed (no faults, no rate limit), then
 * the disturbed run with the TPM set so that its embedding lasts about as
 * long as the fault window, and prints their figures side by side with the
 * goals. A benchmark, not a test: it takes ~15 minutes and prints figures.
 *
 *   npm run chaos                       # a new seed (printed)
 *   npm run chaos -- --seed 42          # repeat a run
 *   npm run chaos -- --scale 0.25 --max-pages 300   # a short try of the harness
 */
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { loadConfig } from '../../src/config/config.ts';
import { PG_MANUAL_DIR, requireManual, serveDirectory, type StaticServer } from '../../src/demo/static-server.ts';
import { requestTokenLimit } from '../../src/embed/packing.ts';
import { QUEUE_NAMES } from '../../src/queue/contracts.ts';
import { RunTracker } from '../../src/runs/tracker.ts';
import { runCli, spawnCli } from '../helpers/cli.ts';
import { startOwnRedis, type OwnRedis } from '../helpers/redis-server.ts';
import { isolate, requirePostgres, TEST_DATABASE_URL, type TestIsolation } from '../helpers/services.ts';
import { startDatabaseProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { startEmulatorProcess, type EmulatorProcess } from './chaos/emulator-process.ts';
import { DEFAULT_PLAN, describePlan, planFaults, scalePlan, type Fault } from './chaos/plan.ts';
import { Supervisor, type Supervised } from './chaos/supervisor.ts';

const { values: args } = parseArgs({
  options: {
    seed: { type: 'string' },
    scale: { type: 'string', default: '1' },
    'max-pages': { type: 'string', default: '0' },
    'crawl-workers': { type: 'string', default: '2' },
    'embed-workers': { type: 'string', default: '3' },
    'error-rate': { type: 'string', default: '0.05' },
    'drop-rate': { type: 'string', default: '0.01' },
    'deadline-min': { type: 'string', default: '60' },
  },
});
const seed = args.seed !== undefined ? Number(args.seed) : Date.now() % 2 ** 31;
const scale = Number(args.scale);
const maxPages = Number(args['max-pages']);
const crawlWorkers = Number(args['crawl-workers']);
const embedWorkers = Number(args['embed-workers']);
const runDeadlineMs = Number(args['deadline-min']) * 60_000;
/** Embed jobs waiting or active in the queue that make a "deep" budget backlog for a SIGTERM. */
const DEEP_BACKLOG = 20;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const say = (line: string) => process.stderr.write(`${line}\n`);
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** What one run measured. Tokens are cl100k_base tokens. */
interface Figures {
  wallMs: number;
  documents: number;
  /** md5 of the sorted document URIs: the same pages, not just as many. */
  pagesDigest: string;
  chunks: number;
  /** Distinct chunk hashes among the chunks. */
  uniqueChunks: number;
  embeddings: number;
  /** Chunk hashes without an embedding when the run ended. */
  missing: number;
  /** Tokens of the unique chunks (the embeddings' token counts). */
  uniqueTokens: number;
  /** Tokens the emulator admitted (what OpenAI bills). */
  billedTokens: number;
  /** Tokens in the cost ledger ('sent' and 'billed' embedding rows). */
  ledgerTokens: number;
  /** Of those, tokens in 'sent' rows: requests whose process died before their response was recorded. */
  ledgerSentTokens: number;
  requests: number;
  faultsInjected: number;
  /** Failed jobs in every queue's failed set, with their reasons. */
  failedJobs: string[];
  /** Failures the run recorded. */
  runFailures: number;
  /** The request token cap the workers packed under (the goal for re-paid tokens per SIGKILL). */
  requestTokenCap: number;
}

/** What the disturbed run did to its processes and dependencies. */
interface ChaosLog {
  applied: string[];
  sigkills: number;
  sigterms: {
    backlog: number;
    exitCode: number | null | undefined;
    /** The signal that ended it when it did not exit by itself (SIGTERM: before its handler was installed). */
    exitSignal?: string | null;
    pid: number;
    stderrTail?: string;
  }[];
  lastFaultEndMs: number;
  finishedMs: number;
  restarts: number;
  unexpected: string[];
  faultsAfterRun: number;
  /** Ledger rows left 'sent' at the end: when (after the run started) and how many tokens. */
  sentRows?: string[];
}

interface Setup {
  site: StaticServer;
  redis: OwnRedis;
  proxy: TcpProxy;
  databaseUrl: string;
}

async function queryFigures(
  schema: string,
): Promise<
  Omit<
    Figures,
    'wallMs' | 'billedTokens' | 'requests' | 'faultsInjected' | 'failedJobs' | 'runFailures' | 'requestTokenCap'
  >
> {
  const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await c.connect();
  try {
    const one = async (sql: string) => Number((await c.query<{ n: string }>(sql)).rows[0]!.n ?? 0);
    const s = `"${schema}"`;
    return {
      documents: await one(`SELECT count(*) AS n FROM ${s}.documents`),
      pagesDigest:
        (await c.query<{ d: string | null }>(`SELECT md5(string_agg(uri, ' ' ORDER BY uri)) AS d FROM ${s}.documents`))
          .rows[0]!.d ?? '',
      chunks: await one(`SELECT count(*) AS n FROM ${s}.chunks`),
      uniqueChunks: await one(`SELECT count(DISTINCT chunk_hash) AS n FROM ${s}.chunks`),
      embeddings: await one(`SELECT count(*) AS n FROM ${s}.embeddings`),
      missing: await one(
        `SELECT count(DISTINCT c.chunk_hash) AS n FROM ${s}.chunks c
         WHERE NOT EXISTS (SELECT 1 FROM ${s}.embeddings e WHERE e.chunk_hash = c.chunk_hash)`,
      ),
      uniqueTokens: await one(`SELECT coalesce(sum(token_count), 0) AS n FROM ${s}.embeddings`),
      ledgerTokens: await one(
        `SELECT coalesce(sum(tokens), 0) AS n FROM ${s}.cost_ledger WHERE kind = 'embedding' AND status IN ('sent', 'billed')`,
      ),
      ledgerSentTokens: await one(
        `SELECT coalesce(sum(tokens), 0) AS n FROM ${s}.cost_ledger WHERE kind = 'embedding' AND status = 'sent'`,
      ),
    };
  } finally {
    await c.end();
  }
}

/** Ledger rows left 'sent': seconds after `t0` they were written, and their tokens. */
async function sentRows(schema: string, t0: number): Promise<string[]> {
  const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await c.connect();
  try {
    const { rows } = await c.query<{ ms: string; tokens: string }>(
      `SELECT (extract(epoch FROM at) * 1000)::bigint AS ms, tokens FROM "${schema}".cost_ledger WHERE status = 'sent' ORDER BY at`,
    );
    return rows.map((r) => `+${seconds(Number(r.ms) - t0)} ${r.tokens} tokens`);
  } finally {
    await c.end();
  }
}

/** Every failed job of the run's queues, `queue id: reason`. */
async function failedJobs(redis: Redis, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of QUEUE_NAMES) {
    const q = new Queue(name, { connection: redis, prefix });
    q.on('error', () => {});
    for (const j of await q.getFailed(0, -1)) out.push(`${name} ${j.id}: ${j.failedReason}`);
    await q.close();
  }
  return out;
}

/** One run of the manual: enqueue, keep the workers alive, apply `plan` (if any), wait until every job finished. */
async function runOnce(
  label: string,
  setup: Setup,
  opts: { tpm: number; errorRate: number; dropRate: number; plan: readonly Fault[] },
): Promise<{ figures: Figures; chaos: ChaosLog }> {
  const emulator: EmulatorProcess = await startEmulatorProcess({
    EMULATOR_TPM: String(opts.tpm),
    EMULATOR_RPM: '100000',
    EMULATOR_ERROR_RATE: String(opts.errorRate),
    EMULATOR_DROP_RATE: String(opts.dropRate),
    EMULATOR_SEED: String(seed),
  });
  const iso: TestIsolation = isolate({
    LOG_LEVEL: 'warn',
    REDIS_URL: setup.redis.url,
    DATABASE_URL: setup.databaseUrl,
    OPENAI_BASE_URL: emulator.url,
    OPENAI_API_KEY: 'chaos',
    EMBEDDING_TPM: String(opts.tpm),
    EMBEDDING_RPM: '100000',
  });
  const env = iso.env;
  const redis = new Redis(setup.redis.url, { maxRetriesPerRequest: 1 });
  redis.on('error', () => {}); // Redis is restarted on purpose
  const tracker = new RunTracker(redis, iso.prefix);
  const supervisor = new Supervisor((slot) => spawnCli(['worker', slot.split('-')[0]!], env));
  const log: ChaosLog = {
    applied: [],
    sigkills: 0,
    sigterms: [],
    lastFaultEndMs: 0,
    finishedMs: 0,
    restarts: 0,
    unexpected: [],
    faultsAfterRun: 0,
  };
  try {
    const migrated = await runCli(['migrate'], env);
    if (migrated.code !== 0) throw new Error(`sluice migrate failed:\n${migrated.stderr}`);
    supervisor.start([
      ...Array.from({ length: crawlWorkers }, (_, i) => `crawl-${i + 1}`),
      ...Array.from({ length: embedWorkers }, (_, i) => `embed-${i + 1}`),
    ]);
    const enqueueArgs = ['enqueue', `${setup.site.url}/index.html`, '--collection', 'manual', '--json'];
    if (maxPages > 0) enqueueArgs.push('--max-pages', String(maxPages));
    const enq = await runCli(enqueueArgs, env);
    if (enq.code !== 0) throw new Error(`sluice enqueue failed:\n${enq.stderr}`);
    const runId = (JSON.parse(enq.stdout) as { runId: string }).runId;
    const t0 = Date.now();
    let finished = false;
    const embedQueue = new Queue('embed', { connection: redis, prefix: iso.prefix });
    embedQueue.on('error', () => {});
    const backlog = async () => {
      const c = await embedQueue.getJobCounts('waiting', 'active', 'prioritized', 'delayed').catch(() => undefined);
      return c ? Object.values(c).reduce((a, b) => a + b, 0) : 0;
    };
    // A draining process is not picked again: a second SIGTERM would force its exit.
    const target = (pick: number, role?: string): Supervised | undefined => {
      const alive = supervisor
        .alive()
        .filter((p) => !p.stopped && !p.draining && (role === undefined || p.slot.startsWith(role)));
      return alive[Math.floor(pick * alive.length)];
    };
    const note = (f: Fault, what: string) => {
      const at = Date.now() - t0;
      if (finished) log.faultsAfterRun++;
      log.applied.push(`+${seconds(at)} ${f.kind} ${what}`);
      say(`[${label}] +${seconds(at)} ${f.kind} ${what}`);
    };
    const ended = () => {
      log.lastFaultEndMs = Math.max(log.lastFaultEndMs, Date.now() - t0);
    };
    const fire = async (f: Fault): Promise<void> => {
      await sleep(t0 + f.atMs - Date.now());
      switch (f.kind) {
        case 'sigkill': {
          const p = target(f.pick);
          if (!p) return note(f, 'skipped: no process alive');
          supervisor.signal(p, 'SIGKILL');
          log.sigkills++;
          note(f, `${p.slot} (pid ${p.pid})`);
          return ended();
        }
        case 'sigterm': {
          // During a deep budget backlog: wait for one (at most a minute).
          const until = Date.now() + 60_000;
          let depth = await backlog();
          while (depth < DEEP_BACKLOG && Date.now() < until && !finished) {
            await sleep(1000);
            depth = await backlog();
          }
          const p = target(f.pick, 'embed');
          if (!p) return note(f, 'skipped: no embed process alive');
          const record: ChaosLog['sigterms'][number] = { backlog: depth, exitCode: undefined, pid: p.pid };
          log.sigterms.push(record);
          p.child.once('exit', (code, signal) => {
            record.exitCode = code;
            record.exitSignal = signal;
          });
          supervisor.signal(p, 'SIGTERM');
          note(f, `${p.slot} (pid ${p.pid}) with ${depth} embed jobs queued or waiting for budget`);
          return ended();
        }
        case 'sigstop': {
          const p = target(f.pick);
          if (!p) return note(f, 'skipped: no process alive');
          supervisor.signal(p, 'SIGSTOP');
          note(f, `${p.slot} (pid ${p.pid}) for ${seconds(f.durationMs)}`);
          await sleep(f.durationMs);
          if (p.child.exitCode === null && p.child.signalCode === null) supervisor.signal(p, 'SIGCONT');
          say(`[${label}] +${seconds(Date.now() - t0)} SIGCONT ${p.slot}`);
          return ended();
        }
        case 'redis-restart':
          await setup.redis.stop();
          note(f, `down for ${seconds(f.durationMs)}`);
          await sleep(f.durationMs);
          await setup.redis.start();
          say(`[${label}] +${seconds(Date.now() - t0)} Redis is back`);
          return ended();
        case 'pg-refuse':
          await setup.proxy.refuse();
          note(f, `connections refused for ${seconds(f.durationMs)}`);
          await sleep(f.durationMs);
          await setup.proxy.accept();
          say(`[${label}] +${seconds(Date.now() - t0)} PostgreSQL accepts again`);
          return ended();
        case 'pg-blackhole':
          setup.proxy.blackhole();
          note(f, `nothing forwarded for ${seconds(f.durationMs)}`);
          await sleep(f.durationMs);
          setup.proxy.forward();
          say(`[${label}] +${seconds(Date.now() - t0)} PostgreSQL forwards again`);
          return ended();
      }
    };
    const faults = Promise.all(opts.plan.map(fire));
    let lastReport = 0;
    for (;;) {
      const p = await tracker.progress(runId).catch(() => undefined);
      if (p && p.jobs > 0 && p.finished >= p.jobs) {
        if (!finished) log.finishedMs = Date.now() - t0;
        finished = true;
        break;
      }
      if (Date.now() - t0 > runDeadlineMs)
        throw new Error(`[${label}] the run did not finish within ${args['deadline-min']} minutes (seed ${seed})`);
      if (Date.now() - lastReport >= 15_000) {
        lastReport = Date.now();
        say(
          `[${label}] +${seconds(Date.now() - t0)}: ${p ? `${p.finished}/${p.jobs} jobs finished, ${p.failed} failed` : 'Redis does not answer'}, ` +
            `embed backlog ${await backlog()}, ${await embedQueue.getFailedCount().catch(() => '?')} in embed's failed set, ${supervisor.restarts} restarts`,
        );
      }
      await sleep(500);
    }
    await faults;
    await embedQueue.close();
    log.restarts = supervisor.restarts;
    for (const t of log.sigterms)
      if (t.exitCode !== 0) t.stderrTail = supervisor.exits.find((e) => e.pid === t.pid)?.stderrTail;
    log.unexpected = supervisor
      .unexpectedExits()
      .map((e) => `${e.slot} pid ${e.pid} exit ${e.code ?? e.signal} after ${seconds(e.livedMs)}:\n${e.stderrTail}`);
    const config = loadConfig(env);
    const stats = await emulator.stats();
    const figures: Figures = {
      wallMs: log.finishedMs,
      ...(await queryFigures(iso.schema)),
      billedTokens: stats.tokensAccepted,
      requests: stats.requests.total,
      faultsInjected: Object.values(stats.faults).reduce((a, b) => a + b, 0),
      failedJobs: await failedJobs(redis, iso.prefix),
      runFailures: (await tracker.progress(runId)).failed,
      requestTokenCap: requestTokenLimit({
        maxRequestTokens: config.embedding.maxRequestTokens,
        maxInputTokens: config.embedding.maxInputTokens,
        tpm: config.embedding.tpm,
      }),
    };
    // Where the rows left 'sent' were written, against the faults' times: a
    // row just before a SIGKILL of an embed process is a request in flight or
    // one killed before it left.
    log.sentRows = await sentRows(iso.schema, t0);
    return { figures, chaos: log };
  } finally {
    await supervisor.close();
    redis.disconnect();
    await emulator.close();
    await iso.cleanup().catch(() => {});
  }
}

function ratio(a: number, b: number): string {
  return b === 0 ? 'n/a' : (a / b).toFixed(4);
}

function report(base: Figures, chaos: Figures, log: ChaosLog): void {
  const repaid = chaos.billedTokens - chaos.uniqueTokens;
  const perKill = log.sigkills ? repaid / log.sigkills : repaid;
  const rows: [string, string, string, string, boolean | null][] = [
    ['documents', `${base.documents}`, `${chaos.documents}`, 'equal', chaos.documents === base.documents],
    [
      'same pages (URI digest)',
      base.pagesDigest.slice(0, 8),
      chaos.pagesDigest.slice(0, 8),
      'equal',
      chaos.pagesDigest === base.pagesDigest,
    ],
    ['chunks', `${base.chunks}`, `${chaos.chunks}`, 'equal', chaos.chunks === base.chunks],
    ['embeddings', `${base.embeddings}`, `${chaos.embeddings}`, 'equal', chaos.embeddings === base.embeddings],
    ['chunks without embedding', `${base.missing}`, `${chaos.missing}`, '0', chaos.missing === 0],
    ['failed jobs', `${base.failedJobs.length}`, `${chaos.failedJobs.length}`, '0', chaos.failedJobs.length === 0],
    [
      'billed ÷ unique-chunk tokens',
      ratio(base.billedTokens, base.uniqueTokens),
      ratio(chaos.billedTokens, chaos.uniqueTokens),
      '≈ 1',
      null,
    ],
    [
      're-paid tokens per SIGKILL',
      '-',
      `${Math.round(perKill)} (${repaid} over ${log.sigkills})`,
      `≤ ${chaos.requestTokenCap} (request cap)`,
      perKill <= chaos.requestTokenCap,
    ],
    [
      'ledger ÷ billed tokens',
      ratio(base.ledgerTokens, base.billedTokens),
      ratio(chaos.ledgerTokens, chaos.billedTokens),
      '1.00',
      (chaos.ledgerTokens / chaos.billedTokens).toFixed(2) === '1.00',
    ],
    [
      'time to converge after last fault',
      '-',
      seconds(Math.max(0, log.finishedMs - log.lastFaultEndMs)),
      'reported',
      log.faultsAfterRun === 0 ? null : false,
    ],
    [
      'worker restarts (unexpected)',
      '0',
      `${log.restarts} (${log.unexpected.length})`,
      '0 unexpected',
      log.unexpected.length === 0,
    ],
  ];
  const w = [34, 14, 26, 22];
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(w[i] ?? 0)).join(' ');
  console.log(line(['figure', 'undisturbed', 'chaos', 'goal']) + ' met');
  for (const [name, b, c, goal, met] of rows)
    console.log(line([name, b, c, goal]) + (met === null ? ' -' : met ? ' yes' : ' NO'));
  console.log(
    `\nseed ${seed}, scale ${scale}; undisturbed ${seconds(base.wallMs)}, chaos ${seconds(chaos.wallMs)} (last fault over at ${seconds(log.lastFaultEndMs)}, ${log.faultsAfterRun} faults after the run finished)`,
  );
  console.log(
    `emulator: undisturbed ${base.requests} requests, ${base.billedTokens} tokens billed; chaos ${chaos.requests} requests, ${chaos.faultsInjected} faults injected, ${chaos.billedTokens} tokens billed; unique chunk tokens ${chaos.uniqueTokens}; ledger ${chaos.ledgerTokens}`,
  );
  console.log(
    `SIGTERMs: ${log.sigterms.map((s) => `backlog ${s.backlog}, ${s.exitCode === null ? `ended by ${s.exitSignal}${s.exitSignal === 'SIGTERM' ? ' (still starting: no handler yet)' : ''}` : `exit ${s.exitCode}`}`).join('; ')}`,
  );
  console.log(
    `ledger: ${chaos.ledgerTokens - chaos.ledgerSentTokens} tokens in 'billed' rows, ${chaos.ledgerSentTokens} in 'sent' rows (a request whose process died before its response was recorded: counted, billed or not)`,
  );
  for (const t of log.sigterms)
    if (t.exitCode) console.log(`SIGTERMed pid ${t.pid} exited ${t.exitCode}:\n${t.stderrTail ?? ''}`);
  for (const f of chaos.failedJobs.slice(0, 20)) console.log(`failed: ${f}`);
  for (const u of log.unexpected) console.log(`unexpected exit: ${u}`);
  if (log.sentRows?.length) console.log(`ledger rows left 'sent' (written at):\n  ${log.sentRows.join('\n  ')}`);
}

async function main(): Promise<void> {
  requireManual();
  await requirePostgres();
  const plan = planFaults({ seed, ...scalePlan(DEFAULT_PLAN, scale) });
  say(`chaos run, seed ${seed}, scale ${scale}; plan:\n  ${describePlan(plan).join('\n  ')}`);
  const site = await serveDirectory(PG_MANUAL_DIR);
  const redis = await startOwnRedis();
  const { proxy, databaseUrl } = await startDatabaseProxy();
  const setup = { site, redis, proxy, databaseUrl };
  try {
    say('undisturbed run …');
    const base = await runOnce('undisturbed', setup, { tpm: 100_000_000, errorRate: 0, dropRate: 0, plan: [] });
    // Pace the disturbed run so its embedding lasts about as long as the fault window.
    const windowMin = scalePlan(DEFAULT_PLAN, scale).windowEndMs / 60_000;
    const tpm = Math.max(50_000, Math.ceil(base.figures.billedTokens / windowMin));
    say(`undisturbed: ${base.figures.documents} documents, ${base.figures.billedTokens} tokens; chaos at ${tpm} TPM …`);
    const chaos = await runOnce('chaos', setup, {
      tpm,
      errorRate: Number(args['error-rate']),
      dropRate: Number(args['drop-rate']),
      plan,
    });
    console.log(
      `\nchaos run (npm run chaos -- --seed ${seed}${scale !== 1 ? ` --scale ${scale}` : ''}${maxPages ? ` --max-pages ${maxPages}` : ''})`,
    );
    for (const a of chaos.chaos.applied) console.log(`  ${a}`);
    report(base.figures, chaos.figures, chaos.chaos);
  } finally {
    await proxy.close();
    await redis.close();
    await site.close();
  }
}

await main();
