/**
 * Opens a real Sluice runtime (real Redis, real PostgreSQL + pgvector, the
 * emulator over HTTP) in an isolated queue prefix and schema, with workers.
 */
import { loadConfig } from '../../src/config/config.ts';
import { createLogger } from '../../src/log/logger.ts';
import { parseQueues } from '../../src/runtime/worker-process.ts';
import { openRuntime, type Runtime } from '../../src/runtime/runtime.ts';
import { startWorkers, type RunningWorkers } from '../../src/runtime/workers.ts';
import { isolate, requirePostgres, requireRedis, type TestIsolation } from './services.ts';

export interface TestRuntime {
  rt: Runtime;
  workers: RunningWorkers;
  iso: TestIsolation;
  close(): Promise<void>;
}

export async function openTestRuntime(
  extraEnv: Record<string, string> = {},
  opts: { workers?: boolean } = {},
): Promise<TestRuntime> {
  await requireRedis();
  await requirePostgres();
  const iso = isolate(extraEnv);
  const config = loadConfig(iso.env);
  const rt = await openRuntime(config, createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'), {
    role: 'test',
    workers: opts.workers !== false,
  });
  const workers = opts.workers === false ? startWorkers(rt, []) : startWorkers(rt, parseQueues(['all']));
  return {
    rt,
    workers,
    iso,
    async close() {
      await workers.close();
      await rt.close();
      await iso.cleanup();
    },
  };
}

/**
 * Runs `fn` against a runtime with every worker, opened from `env` (an
 * isolation's env and overrides), and closes both after it: for tests and
 * benches that reopen a runtime on the same schema with other settings.
 */
export async function withRuntime<T>(
  env: Record<string, string | undefined>,
  fn: (rt: Runtime) => Promise<T>,
  role = 'test',
): Promise<T> {
  const rt = await openRuntime(loadConfig(env), createLogger('silent'), { role, workers: true });
  const workers = startWorkers(rt, parseQueues(['all']));
  try {
    return await fn(rt);
  } finally {
    await workers.close();
    await rt.close();
  }
}
