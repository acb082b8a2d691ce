/**
 * Job deadlines and drains: the configuration that sets them, and the waits
 * that end with an error naming what they waited for.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_JOB_DEADLINES_MS, loadConfig } from '../../src/config/config.ts';
import { ConfigError, JobDeadlineError, ShutdownError } from '../../src/errors/index.ts';
import { sleepFor, waitFor } from '../../src/runtime/deadline.ts';

describe('JOB_DEADLINES', () => {
  it('defaults every queue and overrides the ones named', () => {
    expect(loadConfig({}).jobDeadlinesMs).toEqual(DEFAULT_JOB_DEADLINES_MS);
    const c = loadConfig({ JOB_DEADLINES: 'embed=90s, crawl=1m30s' });
    expect(c.jobDeadlinesMs.embed).toBe(90_000);
    expect(c.jobDeadlinesMs.crawl).toBe(90_000);
    expect(c.jobDeadlinesMs.upload).toBe(DEFAULT_JOB_DEADLINES_MS.upload);
  });

  it.each([
    ['emb=90s', /"emb=90s" is not queue=duration/],
    ['embed', /"embed" is not queue=duration/],
    ['embed=soon', /"embed=soon"/],
    ['embed=10ms', /under 1s/],
  ])('refuses %s with a message naming it', (spec, message) => {
    expect(() => loadConfig({ JOB_DEADLINES: spec })).toThrow(ConfigError);
    expect(() => loadConfig({ JOB_DEADLINES: spec })).toThrow(message);
  });
});

describe('OPENAI_TIMEOUT_MS against SHUTDOWN_TIMEOUT_MS', () => {
  it('refuses a request timeout a drain could not wait for, unless allowed explicitly', () => {
    expect(() => loadConfig({ OPENAI_TIMEOUT_MS: '90000', SHUTDOWN_TIMEOUT_MS: '30000' })).toThrow(
      /OPENAI_TIMEOUT_MS=90000 exceeds SHUTDOWN_TIMEOUT_MS=30000.*ALLOW_OPENAI_TIMEOUT_OVER_SHUTDOWN/,
    );
    const c = loadConfig({
      OPENAI_TIMEOUT_MS: '90000',
      SHUTDOWN_TIMEOUT_MS: '30000',
      ALLOW_OPENAI_TIMEOUT_OVER_SHUTDOWN: 'true',
    });
    expect(c.openai.timeoutMs).toBe(90_000);
    const d = loadConfig({});
    expect(d.openai.timeoutMs).toBeLessThanOrEqual(d.workers.shutdownTimeoutMs);
  });
});

describe('waitFor', () => {
  it('passes the result through while the signal is quiet', async () => {
    const c = new AbortController();
    await expect(waitFor('x', Promise.resolve(7), c.signal)).resolves.toBe(7);
    await expect(waitFor('x', Promise.reject(new Error('own')), c.signal)).rejects.toThrow('own');
  });

  it('ends a wait that never settles when the signal aborts, naming the wait', async () => {
    const c = new AbortController();
    const never = new Promise<never>(() => {});
    const waiting = waitFor('budget for 1,200 tokens', never, c.signal);
    c.abort(new JobDeadlineError('embed job deadline of 900 s passed'));
    const err = await waiting.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobDeadlineError);
    expect((err as Error).message).toBe('embed job deadline of 900 s passed while waiting for budget for 1,200 tokens');
  });

  it('keeps the class of the reason (a drain stays a drain)', async () => {
    const c = new AbortController();
    c.abort(new ShutdownError('the worker process is draining'));
    const err = await sleepFor('claims of another job', 60_000, c.signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShutdownError);
    expect((err as Error).message).toMatch(/draining while waiting for claims of another job/);
  });
});
