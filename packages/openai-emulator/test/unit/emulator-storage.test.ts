/**
 * Unit tests of the pieces behind the emulator's Files and Vector Stores:
 * the controllable clock, fault routing, text extraction, chunking,
 * search filters, cursor pagination and the new settings.
 */
import { describe, expect, it } from 'vitest';
import { chunkTokens } from '../../src/chunking.ts';
import { EmulatorClock } from '../../src/clock.ts';
import { ApiError } from '../../src/errors.ts';
import { faultApplies } from '../../src/faults.ts';
import { DEFAULT_SETTINGS, emulatorSettingsFromEnv, mergeSettings, SettingsError } from '../../src/options.ts';
import { paginate, parseListQuery, Sequencer } from '../../src/pagination.ts';
import { matchesFilter, parseFilter } from '../../src/search.ts';
import { decodeText, extractText } from '../../src/text-extract.ts';
import { encodeText } from '../../src/tokens.ts';
import { parseAttributes, parseChunkingStrategy, parseMetadata } from '../../src/validate.ts';

function apiError(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('expected an ApiError');
}

describe('EmulatorClock', () => {
  it('runs at the monotonic source speed from the start time and advances on demand', () => {
    let mono = 1000;
    const clock = new EmulatorClock(1_700_000_000_000, () => mono);
    expect(clock.nowMs()).toBe(1_700_000_000_000);
    mono += 1500;
    expect(clock.nowMs()).toBe(1_700_000_001_500);
    expect(clock.nowSeconds()).toBe(1_700_000_001);
    expect(clock.advance(86_400_000)).toBe(1_700_086_401_500);
    expect(clock.offsetMs).toBe(86_400_000);
    expect(() => clock.advance(-1)).toThrow(RangeError);
    expect(() => clock.advance(Number.NaN)).toThrow(RangeError);
    expect(clock.offsetMs).toBe(86_400_000);
  });
});

describe('faultApplies', () => {
  it('defaults to every route; otherwise exact "METHOD /path" entries or path prefixes', () => {
    expect(faultApplies(null, 'GET', '/v1/files')).toBe(true);
    const routes = ['POST /v1/embeddings', '/v1/vector_stores/'];
    expect(faultApplies(routes, 'POST', '/v1/embeddings')).toBe(true);
    expect(faultApplies(routes, 'GET', '/v1/embeddings')).toBe(false);
    expect(faultApplies(routes, 'GET', '/v1/vector_stores')).toBe(true);
    expect(faultApplies(routes, 'DELETE', '/v1/vector_stores/{vector_store_id}/files/{file_id}')).toBe(true);
    expect(faultApplies(routes, 'POST', '/v1/vector_stores_x')).toBe(false);
    expect(faultApplies(routes, 'POST', '/v1/files')).toBe(false);
    expect(faultApplies([], 'POST', '/v1/embeddings')).toBe(false);
  });
});

describe('extractText', () => {
  it.each([
    ['a.md', Buffer.from('# hi'), { ok: true, text: '# hi' }],
    ['A.TXT', Buffer.from('upper-case extension'), { ok: true, text: 'upper-case extension' }],
    ['bom.txt', Buffer.from([0xef, 0xbb, 0xbf, 0x68, 0x69]), { ok: true, text: 'hi' }],
    [
      'le.txt',
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('héllo', 'utf16le')]),
      { ok: true, text: 'héllo' },
    ],
    ['be.txt', Buffer.from([0xfe, 0xff, 0x00, 0x68, 0x00, 0x69]), { ok: true, text: 'hi' }],
    ['nobom16.txt', Buffer.from('plain ascii in utf-16', 'utf16le'), { ok: true, text: 'plain ascii in utf-16' }],
  ])('%s is text', (name, bytes, expected) => {
    expect(extractText(name, bytes)).toEqual(expected);
  });

  it.each([
    ['x.png', 'unsupported_file', Buffer.from('x')],
    ['Makefile', 'unsupported_file', Buffer.from('all:')],
    ['x.csv', 'unsupported_file', Buffer.from('a,b')],
    ['bad.txt', 'invalid_file', Buffer.from([0x61, 0xc3, 0x28])],
    ['nul.md', 'invalid_file', Buffer.from([0x61, 0x00, 0x62, 0x63, 0x64])],
    ['ctrl.txt', 'invalid_file', Buffer.from('text\u0001with a control')],
    ['empty.md', 'invalid_file', Buffer.alloc(0)],
    ['blank.md', 'invalid_file', Buffer.from(' \n\t ')],
    ['bin.pdf', 'invalid_file', Buffer.from([0x00, 0x01, 0x02, 0xff])],
  ])('%s fails with %s', (name, code, bytes) => {
    const r = extractText(name, bytes);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.code).toBe(code);
      expect(r.message.length).toBeGreaterThan(0);
    }
  });

  it('keeps printable runs of binary documents', () => {
    const pdf = Buffer.concat([
      Buffer.from('%PDF-1.7\n'),
      Buffer.from([0x00, 0xff, 0x01]),
      Buffer.from('Hello PDF text'),
      Buffer.from([0x00, 0x9f]),
    ]);
    expect(extractText('doc.pdf', pdf)).toEqual({ ok: true, text: '%PDF-1.7\nHello PDF text' });
    expect(extractText('doc.pdf', Buffer.from('a pdf fixture that is plain text'))).toEqual({
      ok: true,
      text: 'a pdf fixture that is plain text',
    });
  });

  it('decodeText rejects odd UTF-16 and lone surrogates', () => {
    expect(decodeText(Buffer.from([0xff, 0xfe, 0x00, 0xd8]))).toBeUndefined();
    expect(decodeText(Buffer.from([0x61, 0x00, 0x62]))).toBeUndefined();
  });
});

describe('chunkTokens', () => {
  it('returns short texts whole', () => {
    const text = 'short text';
    expect(chunkTokens(text, encodeText(text), { maxChunkSizeTokens: 800, chunkOverlapTokens: 400 })).toEqual([text]);
  });

  it('cuts windows of max tokens overlapping by the overlap', () => {
    const text = Array.from({ length: 300 }, (_, i) => `w${i}`).join(' ');
    const tokens = encodeText(text);
    const max = 100;
    const overlap = 30;
    const chunks = chunkTokens(text, tokens, { maxChunkSizeTokens: max, chunkOverlapTokens: overlap });
    const step = max - overlap;
    expect(chunks).toHaveLength(Math.ceil((tokens.length - max) / step) + 1);
    for (const c of chunks) expect(encodeText(c).length).toBeLessThanOrEqual(max + 2);
    // consecutive chunks share text
    const tail = (chunks[0] as string).slice(-40);
    expect(chunks[1]).toContain(tail.slice(-20));
    // the chunks cover the whole text
    expect(text.endsWith((chunks[chunks.length - 1] as string).slice(-30))).toBe(true);
  });
});

describe('search filters', () => {
  const attrs = { section: 'indexes', version: 15, public: true, title: 'B' };

  it.each([
    [{ type: 'eq', key: 'section', value: 'indexes' }, true],
    [{ type: 'eq', key: 'version', value: '15' }, false],
    [{ type: 'ne', key: 'section', value: 'x' }, true],
    [{ type: 'ne', key: 'missing', value: 'x' }, true],
    [{ type: 'eq', key: 'missing', value: 'x' }, false],
    [{ type: 'gt', key: 'version', value: 14 }, true],
    [{ type: 'gte', key: 'version', value: 15 }, true],
    [{ type: 'lt', key: 'version', value: 15 }, false],
    [{ type: 'lte', key: 'title', value: 'C' }, true],
    [{ type: 'gt', key: 'version', value: '1' }, false],
    [{ type: 'in', key: 'version', value: [14, 15] }, true],
    [{ type: 'nin', key: 'section', value: ['indexes'] }, false],
    [{ type: 'nin', key: 'missing', value: ['indexes'] }, true],
    [{ type: 'eq', key: 'public', value: true }, true],
    [
      {
        type: 'and',
        filters: [
          { type: 'eq', key: 'public', value: true },
          { type: 'lt', key: 'version', value: 10 },
        ],
      },
      false,
    ],
    [
      {
        type: 'or',
        filters: [
          { type: 'eq', key: 'public', value: false },
          { type: 'lt', key: 'version', value: 16 },
        ],
      },
      true,
    ],
    [{ type: 'and', filters: [] }, true],
    [{ type: 'or', filters: [] }, false],
  ])('%j → %s', (filter, expected) => {
    expect(matchesFilter(parseFilter(filter), attrs)).toBe(expected);
  });

  it.each([
    [null, 'filters'],
    [{ key: 'a', value: 1 }, 'filters.type'],
    [{ type: 'eq', value: 1 }, 'filters.key'],
    [{ type: 'eq', key: 'a' }, 'filters.value'],
    [{ type: 'eq', key: 'a', value: { x: 1 } }, 'filters.value'],
    [{ type: 'in', key: 'a', value: [true] }, 'filters.value[0]'],
    [{ type: 'or', filters: [{ type: 'zz', key: 'a', value: 1 }] }, 'filters.filters[0].type'],
    [{ type: 'eq', key: 'a', value: 1, extra: 1 }, 'filters.extra'],
  ])('rejects %j (param %s)', (filter, param) => {
    const err = apiError(() => parseFilter(filter));
    expect(err.status).toBe(400);
    expect(err.body.error.param).toBe(param);
  });
});

describe('pagination', () => {
  const seq = new Sequencer();
  const items = ['a', 'b', 'c', 'd', 'e'].map((id) => {
    seq.assign(id);
    return { id };
  });
  seq.assign('deleted');
  const ids = (r: { data: Array<{ id: string }> }) => r.data.map((x) => x.id);
  const page = (query: string, list = items) =>
    paginate(list, parseListQuery(new URLSearchParams(query), 100, 20), (id) => seq.of(id));

  it('orders desc by default and pages with after / before in both orders', () => {
    expect(ids(page(''))).toEqual(['e', 'd', 'c', 'b', 'a']);
    expect(page('limit=2')).toEqual({ data: [{ id: 'e' }, { id: 'd' }], hasMore: true });
    expect(ids(page('limit=2&after=d'))).toEqual(['c', 'b']);
    expect(ids(page('limit=2&before=b'))).toEqual(['d', 'c']);
    expect(page('limit=2&order=asc&after=c')).toEqual({ data: [{ id: 'd' }, { id: 'e' }], hasMore: false });
    expect(page('limit=2&order=asc&before=c')).toEqual({ data: [{ id: 'a' }, { id: 'b' }], hasMore: false });
    expect(ids(page('order=asc&after=a&before=e'))).toEqual(['b', 'c', 'd']);
    // a cursor whose object is gone keeps its place
    expect(
      ids(
        page(
          'order=asc&after=c',
          items.filter((i) => i.id !== 'c'),
        ),
      ),
    ).toEqual(['d', 'e']);
    expect(ids(page('after=deleted'))).toEqual(['e', 'd', 'c', 'b', 'a']);
  });

  it('rejects bad limits, orders and unknown cursors', () => {
    for (const [q, param, code] of [
      ['limit=0', 'limit', 'integer_below_min_value'],
      ['limit=101', 'limit', 'integer_above_max_value'],
      ['limit=2.5', 'limit', 'invalid_type'],
      ['limit=x', 'limit', 'invalid_type'],
      ['order=up', 'order', 'invalid_value'],
      ['after=zzz', 'after', 'invalid_value'],
      ['before=zzz', 'before', 'invalid_value'],
    ] as const) {
      const err = apiError(() => page(q));
      expect(err.status, q).toBe(400);
      expect(err.body.error.param, q).toBe(param);
      expect(err.body.error.code, q).toBe(code);
    }
  });
});

describe('request shapes', () => {
  it('parses chunking strategies', () => {
    expect(parseChunkingStrategy(undefined)).toBeUndefined();
    expect(parseChunkingStrategy({ type: 'auto' })).toEqual({ maxChunkSizeTokens: 800, chunkOverlapTokens: 400 });
    expect(
      parseChunkingStrategy({ type: 'static', static: { max_chunk_size_tokens: 4096, chunk_overlap_tokens: 2048 } }),
    ).toEqual({
      maxChunkSizeTokens: 4096,
      chunkOverlapTokens: 2048,
    });
    expect(apiError(() => parseChunkingStrategy({ type: 'static' })).body.error.param).toBe('chunking_strategy.static');
    expect(apiError(() => parseChunkingStrategy({ type: 'auto', static: {} })).body.error.code).toBe(
      'unknown_parameter',
    );
    expect(
      apiError(() =>
        parseChunkingStrategy({ type: 'static', static: { max_chunk_size_tokens: 100, chunk_overlap_tokens: -1 } }),
      ).body.error.code,
    ).toBe('integer_below_min_value');
  });

  it('parses metadata (16 pairs, keys ≤ 64, values ≤ 512) and attributes (settings limits)', () => {
    expect(parseMetadata(null)).toEqual({});
    expect(apiError(() => parseMetadata({ ['k'.repeat(65)]: 'v' })).body.error.code).toBe('string_above_max_length');
    expect(apiError(() => parseMetadata({ k: 'v'.repeat(513) })).body.error.code).toBe('string_above_max_length');
    const limits = { maxKeys: 2, maxLength: 5 };
    expect(parseAttributes({ a: 'abcde', b: 1.5 }, 'attributes', limits)).toEqual({ a: 'abcde', b: 1.5 });
    expect(apiError(() => parseAttributes({ a: 1, b: 2, c: 3 }, 'attributes', limits)).body.error.code).toBe(
      'object_above_max_properties',
    );
    expect(apiError(() => parseAttributes({ a: 'abcdef' }, 'attributes', limits)).body.error.code).toBe(
      'string_above_max_length',
    );
    expect(apiError(() => parseAttributes({ a: null }, 'attributes', limits)).body.error.code).toBe('invalid_type');
    expect(apiError(() => parseAttributes([1], 'attributes', limits)).body.error.code).toBe('invalid_type');
  });
});

describe('Files / Vector Stores settings', () => {
  it('has the defaults of docs/openai-facts.md', () => {
    expect(DEFAULT_SETTINGS).toMatchObject({
      faultRoutes: null,
      maxFileBytes: 512 * 1024 * 1024,
      fileProcessingDelayMs: 50,
      vectorStoreWriteLimit: 300,
      vectorStoreWriteWindowMs: 60_000,
      maxVectorStoreFileIds: 500,
      maxFileBatchSize: 2000,
      maxFileTokens: 5_000_000,
      attributeMaxKeys: 16,
      attributeMaxLength: 256,
      pollAfterMs: null,
      holdProcessing: null,
    });
  });

  it('reads the new environment variables', () => {
    expect(
      emulatorSettingsFromEnv({
        EMULATOR_FAULT_ROUTES: 'POST /v1/embeddings, /v1/files ,',
        EMULATOR_MAX_FILE_BYTES: '1048576',
        EMULATOR_FILE_PROCESSING_DELAY_MS: '0',
        EMULATOR_VECTOR_STORE_WRITE_LIMIT: '10',
        EMULATOR_VECTOR_STORE_WRITE_WINDOW_MS: '1000',
        EMULATOR_HOLD_PROCESSING: 'stuck\\.md$',
      }),
    ).toEqual({
      faultRoutes: ['POST /v1/embeddings', '/v1/files'],
      maxFileBytes: 1_048_576,
      fileProcessingDelayMs: 0,
      vectorStoreWriteLimit: 10,
      vectorStoreWriteWindowMs: 1000,
      holdProcessing: 'stuck\\.md$',
    });
    expect(() => emulatorSettingsFromEnv({ EMULATOR_VECTOR_STORE_WRITE_LIMIT: '0' })).toThrow(
      /EMULATOR_VECTOR_STORE_WRITE_LIMIT/,
    );
    expect(() => emulatorSettingsFromEnv({ EMULATOR_HOLD_PROCESSING: '[' })).toThrow(/EMULATOR_HOLD_PROCESSING/);
  });

  it('validates patches and does not share the faultRoutes array', () => {
    const routes = ['/v1/files'];
    const s = mergeSettings(DEFAULT_SETTINGS, { faultRoutes: routes, pollAfterMs: 100 });
    routes.push('/v1/embeddings');
    expect(mergeSettings(s, {}).faultRoutes).toEqual(['/v1/files']);
    for (const bad of [
      { faultRoutes: 'x' },
      { faultRoutes: [''] },
      { fileProcessingDelayMs: -1 },
      { maxFileBytes: 0 },
      { pollAfterMs: 1.5 },
      { holdProcessing: '(' },
      { holdProcessing: '' },
    ]) {
      expect(() => mergeSettings(DEFAULT_SETTINGS, bad), JSON.stringify(bad)).toThrow(SettingsError);
    }
  });
});
