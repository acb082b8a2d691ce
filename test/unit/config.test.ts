import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors/index.ts';
import { loadConfig } from '../../src/config/config.ts';

describe('loadConfig', () => {
  it('has embedded defaults with nothing set', () => {
    const c = loadConfig({});
    expect(c.redis.url).toBe('redis://127.0.0.1:6379');
    expect(c.db.url).toBeUndefined();
    expect(c.openai.apiKey).toBeUndefined();
    expect(c.embedding).toMatchObject({
      model: 'text-embedding-3-small',
      dimensions: 1536,
      maxInputs: 2048,
      maxRequestTokens: 300_000,
      maxInputTokens: 8191,
      rpm: 3000,
      tpm: 1_000_000,
    });
    expect(c.embedding.priceUsdPerMTok).toBe(0.02);
    expect(c.crawl.documentCpuLimitMs).toBe(30_000);
  });

  it('takes the model default dimensions', () => {
    expect(loadConfig({ EMBEDDING_MODEL: 'text-embedding-3-large' }).embedding.dimensions).toBe(3072);
  });

  it.each([
    [{ EMBEDDING_RPM: 'fast' }, /EMBEDDING_RPM="fast"/],
    [{ REDIS_URL: 'not a url' }, /REDIS_URL/],
    [{ CHUNK_OVERLAP_TOKENS: '300', CHUNK_MAX_TOKENS: '512' }, /CHUNK_OVERLAP_TOKENS=300/],
    [{ EMBEDDING_MODEL: 'my-model' }, /EMBEDDING_DIMENSIONS is required/],
    [{ DATABASE_SCHEMA: 'Bad-Name' }, /DATABASE_SCHEMA/],
    [{ REINDEX_MAX_DELETE_FRACTION: '1.5' }, /REINDEX_MAX_DELETE_FRACTION="1.5"/],
    [{ REINDEX_MAX_DELETE_FRACTION: '-0.1' }, /REINDEX_MAX_DELETE_FRACTION/],
    [{ REINDEX_MAX_DELETE_FRACTION: 'a fifth' }, /REINDEX_MAX_DELETE_FRACTION/],
    [{ DEPLOYMENT_ID: 'prod.eu' }, /DEPLOYMENT_ID="prod.eu"/],
    [{ DEPLOYMENT_ID: 'x'.repeat(41) }, /DEPLOYMENT_ID/],
    [{ ORPHAN_GRACE_HOURS: '0' }, /ORPHAN_GRACE_HOURS="0"/],
    [{ OPENAI_POLL_DEADLINE_MS: '300000' }, /OPENAI_POLL_DEADLINE_MS=300000 is over 270000/],
    [{ JOB_DEADLINES: 'associate=5m' }, /OPENAI_POLL_DEADLINE_MS=240000 is over 120000/],
    [{ DOCUMENT_CPU_LIMIT_MS: '0' }, /DOCUMENT_CPU_LIMIT_MS="0"/],
  ])('names the bad variable: %o', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('holds deletion sync above a fifth of a scope by default, and takes 0..1', () => {
    expect(loadConfig({}).reindex.maxDeleteFraction).toBe(0.2);
    expect(loadConfig({ REINDEX_MAX_DELETE_FRACTION: '0' }).reindex.maxDeleteFraction).toBe(0);
    expect(loadConfig({ REINDEX_MAX_DELETE_FRACTION: '1' }).reindex.maxDeleteFraction).toBe(1);
  });

  it('labels with DEPLOYMENT_ID when set, sweeps orphans after 24 h and ends polls by 4 min by default', () => {
    const c = loadConfig({});
    expect(c.deploymentId).toBeUndefined();
    expect(c.orphanGraceHours).toBe(24);
    expect(c.openai.pollDeadlineMs).toBe(240_000);
    expect(loadConfig({ DEPLOYMENT_ID: 'staging_eu-1' }).deploymentId).toBe('staging_eu-1');
    expect(loadConfig({ OPENAI_POLL_DEADLINE_MS: '270000' }).openai.pollDeadlineMs).toBe(270_000);
  });

  it('treats empty strings as unset', () => {
    expect(loadConfig({ DATABASE_URL: '', OPENAI_API_KEY: ' ' }).db.url).toBeUndefined();
  });
});
