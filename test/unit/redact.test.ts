import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { hasUrlCredentials, redactDeep, redactSecrets } from '../../src/log/redact.ts';
import { createRedis } from '../../src/queue/redis.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

describe('redactSecrets', () => {
  it.each([
    ['GET https://alice:s3cret@example.com/docs', 'GET https://***@example.com/docs'],
    ['redis://:pa55@redis:6379/0', 'redis://***@redis:6379/0'],
    [
      'postgres://sluice:pw@db:5432/sluice and https://tok@github.com/x',
      'postgres://***@db:5432/sluice and https://***@github.com/x',
    ],
    ['a@b.example wrote to https://example.com/a@b', 'a@b.example wrote to https://example.com/a@b'],
    ['no url here', 'no url here'],
  ])('%s', (input, expected) => {
    expect(redactSecrets(input)).toBe(expected);
    expect(hasUrlCredentials(input)).toBe(input !== expected);
  });

  it('walks objects, arrays and errors', () => {
    const err = new Error('fetch https://u:p@h/ failed');
    expect(redactDeep({ a: ['https://u:p@h/'], err, n: 1 })).toEqual({
      a: ['https://***@h/'],
      err: expect.objectContaining({ message: 'fetch https://***@h/ failed' }),
      n: 1,
    });
  });
});

describe('the logger', () => {
  it('redacts credentials in URLs in messages and logged objects', () => {
    const script = `
      import { createLogger } from './src/log/logger.ts';
      const log = createLogger('info');
      log.info({ url: 'https://alice:s3cret@example.com/', nested: { list: ['redis://:pa55@r:6379'] } }, 'GET https://alice:s3cret@example.com/');
      log.warn({ err: new Error('connect redis://:pa55@r:6379 refused') }, 'outage');
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      msg: 'GET https://***@example.com/',
      url: 'https://***@example.com/',
      nested: { list: ['redis://***@r:6379'] },
    });
    expect(JSON.stringify(lines[1])).toContain('connect redis://***@r:6379 refused');
    expect(r.stderr).not.toMatch(/s3cret|pa55/);
  });
});

describe('rediss://', () => {
  it('connects with TLS', () => {
    const config = loadConfig({ REDIS_URL: 'rediss://:pw@redis.example:6380' });
    const r: Redis = createRedis(config, 'producer');
    r.on('error', () => {}); // nothing listens there: only the options matter
    try {
      expect(r.options.tls).toBeDefined();
      expect(r.options.password).toBe('pw');
      expect(r.options.port).toBe(6380);
    } finally {
      r.disconnect();
    }
  });
});
