import { describe, expect, it } from 'vitest';
import { labelFilename, parseFileLabel, parseStoreLabel, storeMetadata, storeName } from '../../src/openai/labels.ts';

const HASH = 'ab'.repeat(32);

describe('File labels', () => {
  it('round-trips the deployment, content hash and name; the extension stays last', () => {
    const name = labelFilename('prod-eu_1', HASH, 'guide.v2.md');
    expect(name).toBe(`sluice.prod-eu_1.${HASH}.guide.v2.md`);
    expect(name.endsWith('.md')).toBe(true);
    expect(parseFileLabel(name)).toEqual({ deployment: 'prod-eu_1', contentHash: HASH, filename: 'guide.v2.md' });
  });

  it.each([
    'guide.md',
    `sluice.prod.${HASH}`,
    `sluice.prod.${HASH.slice(1)}.a.md`,
    `sluice..${HASH}.a.md`,
    `other.prod.${HASH}.a.md`,
    `sluice.prod.${HASH.toUpperCase()}.a.md`,
  ])('reads no label from %s', (name) => {
    expect(parseFileLabel(name)).toBeUndefined();
  });

  it('refuses a deployment id with a dot or a hash that is not SHA-256 hex', () => {
    expect(() => labelFilename('prod.eu', HASH, 'a.md')).toThrow(/deployment id/);
    expect(() => labelFilename('prod', 'xyz', 'a.md')).toThrow(/content hash/);
  });
});

describe('vector store labels', () => {
  it('round-trips through metadata within the limits of docs/openai-facts.md', () => {
    const metadata = storeMetadata('prod', HASH, 'docs');
    expect(Object.keys(metadata).length).toBeLessThanOrEqual(16);
    for (const [k, v] of Object.entries(metadata)) {
      expect(k.length).toBeLessThanOrEqual(64);
      expect(v.length).toBeLessThanOrEqual(512);
    }
    expect(parseStoreLabel(metadata)).toEqual({ deployment: 'prod', filesetHash: HASH, collection: 'docs' });
    expect(storeName('prod', HASH, 'docs')).toBe(`sluice prod docs ${HASH.slice(0, 12)}`);
  });

  it('reads a label without a fileset (a labelled store Sluice did not make from one), and none from others', () => {
    expect(parseStoreLabel({ sluice_deployment: 'prod' })).toEqual({
      deployment: 'prod',
      filesetHash: undefined,
      collection: undefined,
    });
    expect(parseStoreLabel({ project: 'x' })).toBeUndefined();
    expect(parseStoreLabel({ sluice_deployment: 'a.b' })).toBeUndefined();
    expect(parseStoreLabel(null)).toBeUndefined();
  });
});
