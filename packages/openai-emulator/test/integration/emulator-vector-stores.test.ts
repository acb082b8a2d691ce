/**
 * The emulator's Vector Stores endpoints (`/v1/vector_stores…`: stores,
 * files, file batches, search), driven over real HTTP on loopback by the
 * official `openai` SDK, and by fetch for the raw bodies, which are
 * validated against the OpenAPI spec's schemas.
 */
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startEmulator, type EmulatorStats, type RunningEmulator } from '../../src/index.ts';
import { admin, client, expectError, raw, type Raw } from '../helpers/emulator-http.ts';
import { validateSchema } from '../helpers/openapi.ts';

const DAY_MS = 86_400_000;
async function upload(openai: OpenAI, name: string, content: string | Uint8Array): Promise<string> {
  const f = await openai.files.create({ file: await toFile(Buffer.from(content), name), purpose: 'assistants' });
  return f.id;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('vector stores: objects, lists, modify, delete', () => {
  let emu: RunningEmulator;
  let openai: OpenAI;
  beforeAll(async () => {
    emu = await startEmulator({ fileProcessingDelayMs: 0 });
    openai = client(emu);
  });
  afterAll(() => emu.close());
  beforeEach(() => emu.reset());

  it('creates, retrieves, updates and deletes with the SDK; raw bodies match the schemas', async () => {
    const fileId = await upload(openai, 'a.md', 'alpha beta gamma');
    const vs = await openai.vectorStores.create({
      name: 'docs',
      description: 'test store',
      file_ids: [fileId],
      metadata: { project: 'sluice' },
      expires_after: { anchor: 'last_active_at', days: 7 },
    });
    expect(vs.id).toMatch(/^vs_[A-Za-z0-9]{24}$/);
    expect(vs).toMatchObject({
      object: 'vector_store',
      name: 'docs',
      status: 'completed',
      usage_bytes: 16,
      file_counts: { in_progress: 0, completed: 1, failed: 0, cancelled: 0, total: 1 },
      expires_after: { anchor: 'last_active_at', days: 7 },
      metadata: { project: 'sluice' },
    });
    expect(vs.last_active_at).toBe(vs.created_at);
    expect(vs.expires_at).toBe((vs.last_active_at as number) + 7 * 86_400);

    const r = await raw(emu, 'GET', `/vector_stores/${vs.id}`);
    validateSchema('VectorStoreObject', r.body);
    expect(r.body.description).toBe('test store');

    const updated = await openai.vectorStores.update(vs.id, {
      name: 'renamed',
      metadata: { a: 'b' },
      expires_after: null,
    });
    expect(updated).toMatchObject({ name: 'renamed', metadata: { a: 'b' }, expires_at: null });
    expect(updated).not.toHaveProperty('expires_after');
    validateSchema('VectorStoreObject', (await raw(emu, 'POST', `/vector_stores/${vs.id}`, { name: 'again' })).body);

    const plain = await raw(emu, 'POST', '/vector_stores', {});
    expect(plain.status).toBe(200);
    validateSchema('VectorStoreObject', plain.body);
    expect(plain.body).toMatchObject({ name: '', expires_at: null, metadata: {}, usage_bytes: 0, status: 'completed' });

    const del = await raw(emu, 'DELETE', `/vector_stores/${vs.id}`);
    validateSchema('DeleteVectorStoreResponse', del.body);
    expect(del.body).toEqual({ id: vs.id, object: 'vector_store.deleted', deleted: true });
    // the File remains
    expect((await openai.files.retrieve(fileId)).id).toBe(fileId);

    const notFound = { message: `No vector store found with id '${vs.id}'.`, param: null, code: 'not_found' };
    expectError(await raw(emu, 'GET', `/vector_stores/${vs.id}`), 404, notFound);
    expectError(await raw(emu, 'DELETE', `/vector_stores/${vs.id}`), 404, notFound);
    expectError(await raw(emu, 'POST', `/vector_stores/${vs.id}`, { name: 'x' }), 404, notFound);
    expectError(await raw(emu, 'GET', `/vector_stores/${vs.id}/files`), 404, notFound);
    expectError(await raw(emu, 'POST', `/vector_stores/${vs.id}/files`, { file_id: fileId }), 404, notFound);
    expectError(await raw(emu, 'POST', `/vector_stores/${vs.id}/file_batches`, { file_ids: [fileId] }), 404, notFound);
    expectError(await raw(emu, 'POST', `/vector_stores/${vs.id}/search`, { query: 'x' }), 404, notFound);
    await expect(openai.vectorStores.retrieve(vs.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('lists with limit/order/after/before; the SDK pages through all', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await openai.vectorStores.create({ name: `s${i}` })).id);
    const all = await raw(emu, 'GET', '/vector_stores');
    validateSchema('ListVectorStoresResponse', all.body);
    expect(all.body.data.map((s: { id: string }) => s.id)).toEqual([...ids].reverse());

    const p1 = await raw(emu, 'GET', '/vector_stores?limit=2&order=asc');
    expect(p1.body).toMatchObject({ first_id: ids[0], last_id: ids[1], has_more: true });
    const p2 = await raw(emu, 'GET', `/vector_stores?limit=2&order=asc&after=${ids[1]}`);
    expect(p2.body.data.map((s: { id: string }) => s.id)).toEqual(ids.slice(2, 4));
    const back = await raw(emu, 'GET', `/vector_stores?limit=2&order=asc&before=${ids[4]}`);
    expect(back.body.data.map((s: { id: string }) => s.id)).toEqual(ids.slice(2, 4));
    expect(back.body.has_more).toBe(true);
    const desc = await raw(emu, 'GET', `/vector_stores?limit=10&after=${ids[2]}`);
    expect(desc.body.data.map((s: { id: string }) => s.id)).toEqual([ids[1], ids[0]]);

    const seen: string[] = [];
    for await (const s of openai.vectorStores.list({ limit: 2 })) seen.push(s.id);
    expect(seen).toEqual([...ids].reverse());
    for (const q of ['limit=0', 'limit=101', 'order=sideways'])
      expect((await raw(emu, 'GET', `/vector_stores?${q}`)).status, q).toBe(400);
  });

  it('validates create and modify bodies', async () => {
    const cases: Array<[unknown, RegExp | string, string | null]> = [
      [
        { file_ids: Array.from({ length: 501 }, (_, i) => `file-${i}`) },
        "Invalid 'file_ids': array too long. Expected an array with maximum length 500, but got an array with length 501 instead.",
        'array_above_max_length',
      ],
      [
        { metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) },
        /too many properties/,
        'object_above_max_properties',
      ],
      [{ metadata: { k: 5 } }, /^Invalid type for 'metadata.k'/, 'invalid_type'],
      [{ expires_after: { anchor: 'created_at', days: 1 } }, /^Invalid value: 'created_at'/, 'invalid_value'],
      [
        { expires_after: { anchor: 'last_active_at', days: 366 } },
        /integer above maximum value/,
        'integer_above_max_value',
      ],
      [
        { expires_after: { anchor: 'last_active_at', days: 0 } },
        /integer below minimum value/,
        'integer_below_min_value',
      ],
      [
        { chunking_strategy: { type: 'static', static: { max_chunk_size_tokens: 99, chunk_overlap_tokens: 0 } } },
        /below minimum/,
        'integer_below_min_value',
      ],
      [
        { chunking_strategy: { type: 'static', static: { max_chunk_size_tokens: 4097, chunk_overlap_tokens: 0 } } },
        /above maximum/,
        'integer_above_max_value',
      ],
      [
        { chunking_strategy: { type: 'static', static: { max_chunk_size_tokens: 200, chunk_overlap_tokens: 101 } } },
        /half of max_chunk_size_tokens/,
        'invalid_value',
      ],
      [{ chunking_strategy: { type: 'semantic' } }, /^Invalid value: 'semantic'/, 'invalid_value'],
      [{ name: 5 }, "Invalid type for 'name': expected a string, but got an integer instead.", 'invalid_type'],
      [{ bogus: true }, "Unknown parameter: 'bogus'.", 'unknown_parameter'],
      [{ file_ids: ['file-missing'] }, 'No such File object: file-missing', null],
    ];
    for (const [body, message, code] of cases) {
      const r = await raw(emu, 'POST', '/vector_stores', body);
      expectError(r, code === null ? 404 : 400, { message, code });
    }
    expect((await raw(emu, 'GET', '/vector_stores')).body.data).toEqual([]);
    const vs = await openai.vectorStores.create({ name: 'ok' });
    expectError(await raw(emu, 'POST', `/vector_stores/${vs.id}`, { description: 'no' }), 400, {
      message: "Unknown parameter: 'description'.",
    });
  });
});

describe('vector store files and batches', () => {
  let emu: RunningEmulator;
  let openai: OpenAI;
  beforeAll(async () => {
    emu = await startEmulator({ fileProcessingDelayMs: 30 });
    openai = client(emu);
  });
  afterAll(() => emu.close());
  beforeEach(() => {
    emu.reset();
    emu.configure({ fileProcessingDelayMs: 30, vectorStoreWriteLimit: 300 });
  });

  it('attaches a file: in_progress, then completed after the processing delay; content, list, detach', async () => {
    emu.configure({ fileProcessingDelayMs: 500 }); // real time: long enough to observe in_progress
    const text = '# Title\n\nSome markdown text about vector stores.';
    const fileId = await upload(openai, 'doc.md', text);
    const vs = await openai.vectorStores.create({ name: 'files' });
    const created = await raw(emu, 'POST', `/vector_stores/${vs.id}/files`, {
      file_id: fileId,
      attributes: { lang: 'en', year: 2024, draft: false },
    });
    expect(created.status).toBe(200);
    validateSchema('VectorStoreFileObject', created.body);
    expect(created.body).toMatchObject({
      id: fileId,
      object: 'vector_store.file',
      status: 'in_progress',
      usage_bytes: 0,
      vector_store_id: vs.id,
      last_error: null,
      attributes: { lang: 'en', year: 2024, draft: false },
      chunking_strategy: { type: 'static', static: { max_chunk_size_tokens: 800, chunk_overlap_tokens: 400 } },
    });
    const store = await openai.vectorStores.retrieve(vs.id);
    expect(store.status).toBe('in_progress');
    expect(store.file_counts).toEqual({ in_progress: 1, completed: 0, failed: 0, cancelled: 0, total: 1 });

    const started = Date.now();
    const done = await openai.vectorStores.files.poll(vs.id, fileId, { pollIntervalMs: 20 });
    expect(done.status).toBe('completed');
    expect(Date.now() - started).toBeGreaterThan(100);
    expect(done.usage_bytes).toBe(Buffer.byteLength(text));
    const r = await raw(emu, 'GET', `/vector_stores/${vs.id}/files/${fileId}`);
    validateSchema('VectorStoreFileObject', r.body);
    expect(await openai.vectorStores.retrieve(vs.id)).toMatchObject({
      status: 'completed',
      usage_bytes: Buffer.byteLength(text),
    });

    const content = await raw(emu, 'GET', `/vector_stores/${vs.id}/files/${fileId}/content`);
    validateSchema('VectorStoreFileContentResponse', content.body);
    expect(content.body).toEqual({
      object: 'vector_store.file_content.page',
      data: [{ type: 'text', text }],
      has_more: false,
      next_page: null,
    });
    const sdkContent = await openai.vectorStores.files.content(fileId, { vector_store_id: vs.id });
    expect(sdkContent.data).toEqual([{ type: 'text', text }]);

    const list = await raw(emu, 'GET', `/vector_stores/${vs.id}/files`);
    validateSchema('ListVectorStoreFilesResponse', list.body);
    expect(list.body).toMatchObject({ object: 'list', first_id: fileId, last_id: fileId, has_more: false });
    expect((await raw(emu, 'GET', `/vector_stores/${vs.id}/files?filter=failed`)).body.data).toEqual([]);
    expect((await raw(emu, 'GET', `/vector_stores/${vs.id}/files?filter=bogus`)).status).toBe(400);

    const updated = await openai.vectorStores.files.update(fileId, {
      vector_store_id: vs.id,
      attributes: { lang: 'fr' },
    });
    expect(updated.attributes).toEqual({ lang: 'fr' });

    const del = await raw(emu, 'DELETE', `/vector_stores/${vs.id}/files/${fileId}`);
    validateSchema('DeleteVectorStoreFileResponse', del.body);
    expect(del.body).toEqual({ id: fileId, object: 'vector_store.file.deleted', deleted: true });
    expect((await openai.files.retrieve(fileId)).id).toBe(fileId); // detach only
    expect((await openai.vectorStores.retrieve(vs.id)).file_counts.total).toBe(0);
    expectError(await raw(emu, 'GET', `/vector_stores/${vs.id}/files/${fileId}`), 404, {
      message: `No file found with id '${fileId}' in vector store '${vs.id}'.`,
      code: 'not_found',
    });
    expectError(await raw(emu, 'POST', `/vector_stores/${vs.id}/files`, { file_id: 'file-nope' }), 404, {
      message: 'No such File object: file-nope',
    });
  });

  it('fails unsupported extensions (unsupported_file) and non-text or empty content (invalid_file)', async () => {
    emu.configure({ fileProcessingDelayMs: 0 });
    const vs = await openai.vectorStores.create({ name: 'failures' });
    const cases: Array<[string, string | Uint8Array, string]> = [
      ['image.png', 'not really an image', 'unsupported_file'],
      ['noext', 'text', 'unsupported_file'],
      ['latin1.txt', new Uint8Array([0x63, 0x61, 0x66, 0xe9, 0x20, 0xff]), 'invalid_file'],
      ['binary.md', new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x00, 0x00, 0x01]), 'invalid_file'],
      ['empty.md', '', 'invalid_file'],
    ];
    for (const [name, content, code] of cases) {
      const fileId = await upload(openai, name, content);
      const vf = await openai.vectorStores.files.createAndPoll(vs.id, { file_id: fileId }, { pollIntervalMs: 10 });
      expect(vf.status, name).toBe('failed');
      expect(vf.last_error?.code, name).toBe(code);
      const r = await raw(emu, 'GET', `/vector_stores/${vs.id}/files/${fileId}`);
      validateSchema('VectorStoreFileObject', r.body);
      expect(r.body.last_error.message.length).toBeGreaterThan(0);
      expect((await raw(emu, 'GET', `/vector_stores/${vs.id}/files/${fileId}/content`)).body.data).toEqual([]);
    }
    // UTF-16 (with BOM) and UTF-8 with BOM are text
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('hello utf16', 'utf16le')]);
    const ok16 = await openai.vectorStores.files.createAndPoll(
      vs.id,
      { file_id: await upload(openai, 'u16.txt', utf16) },
      { pollIntervalMs: 10 },
    );
    expect(ok16.status).toBe('completed');
    const failed = await raw(emu, 'GET', `/vector_stores/${vs.id}/files?filter=failed&limit=100`);
    expect(failed.body.data).toHaveLength(5);
    expect(await openai.vectorStores.retrieve(vs.id)).toMatchObject({
      status: 'completed',
      file_counts: { failed: 5, completed: 1, total: 6 },
    });
  });

  it('batches file_ids: completes with some failures (file_counts.failed), lists files by filter', async () => {
    const good = await Promise.all([1, 2, 3].map((i) => upload(openai, `g${i}.md`, `good file number ${i}`)));
    const bad = await upload(openai, 'bad.exe', 'MZ');
    const vs = await openai.vectorStores.create({ name: 'batch' });
    const batch = await openai.vectorStores.fileBatches.createAndPoll(
      vs.id,
      { file_ids: [...good, bad], attributes: { source: 'batch' } },
      { pollIntervalMs: 20 },
    );
    expect(batch.id).toMatch(/^vsfb_/);
    expect(batch.status).toBe('completed');
    expect(batch.file_counts).toEqual({ in_progress: 0, completed: 3, failed: 1, cancelled: 0, total: 4 });
    const r = await raw(emu, 'GET', `/vector_stores/${vs.id}/file_batches/${batch.id}`);
    validateSchema('VectorStoreFileBatchObject', r.body);
    expect(r.body.object).toBe('vector_store.files_batch');

    const failed = await raw(emu, 'GET', `/vector_stores/${vs.id}/file_batches/${batch.id}/files?filter=failed`);
    validateSchema('ListVectorStoreFilesResponse', failed.body);
    expect(failed.body.data.map((f: { id: string }) => f.id)).toEqual([bad]);
    const completed: string[] = [];
    for await (const f of openai.vectorStores.fileBatches.listFiles(batch.id, {
      vector_store_id: vs.id,
      filter: 'completed',
      limit: 2,
    })) {
      expect(f.attributes).toEqual({ source: 'batch' });
      completed.push(f.id);
    }
    expect(completed.sort()).toEqual([...good].sort());
    expectError(await raw(emu, 'GET', `/vector_stores/${vs.id}/file_batches/vsfb_nope`), 404, {
      message: `No file batch found with id 'vsfb_nope' in vector store '${vs.id}'.`,
      code: 'not_found',
    });
    expectError(await raw(emu, 'POST', `/vector_stores/${vs.id}/file_batches/${batch.id}/cancel`), 400, {
      message: /already finished/,
    });
  });

  it('batches `files` with per-file attributes; exactly one of file_ids / files', async () => {
    const a = await upload(openai, 'a.md', 'first');
    const b = await upload(openai, 'b.md', 'second');
    const vs = await openai.vectorStores.create({ name: 'files-form' });
    const batch = await openai.vectorStores.fileBatches.createAndPoll(
      vs.id,
      {
        files: [
          { file_id: a, attributes: { n: 1 } },
          {
            file_id: b,
            attributes: { n: 2 },
            chunking_strategy: { type: 'static', static: { max_chunk_size_tokens: 100, chunk_overlap_tokens: 50 } },
          },
        ],
      },
      { pollIntervalMs: 20 },
    );
    expect(batch.file_counts).toMatchObject({ completed: 2, total: 2 });
    expect((await openai.vectorStores.files.retrieve(a, { vector_store_id: vs.id })).attributes).toEqual({ n: 1 });
    expect((await openai.vectorStores.files.retrieve(b, { vector_store_id: vs.id })).chunking_strategy).toEqual({
      type: 'static',
      static: { max_chunk_size_tokens: 100, chunk_overlap_tokens: 50 },
    });

    expectError(
      await raw(emu, 'POST', `/vector_stores/${vs.id}/file_batches`, { file_ids: [a], files: [{ file_id: b }] }),
      400,
      { message: /Only one of 'file_ids' or 'files'/ },
    );
    expectError(await raw(emu, 'POST', `/vector_stores/${vs.id}/file_batches`, {}), 400, {
      message: "Missing required parameter: 'file_ids'.",
    });
    expectError(await raw(emu, 'POST', `/vector_stores/${vs.id}/file_batches`, { file_ids: [] }), 400, {
      code: 'empty_array',
      message: /empty array/,
    });
    expectError(await raw(emu, 'POST', `/vector_stores/${vs.id}/file_batches`, { files: [{ attributes: {} }] }), 400, {
      message: "Missing required parameter: 'files[0].file_id'.",
    });
    const ids2001 = Array.from({ length: 2001 }, () => a);
    expectError(await raw(emu, 'POST', `/vector_stores/${vs.id}/file_batches`, { file_ids: ids2001 }), 400, {
      message:
        "Invalid 'file_ids': array too long. Expected an array with maximum length 2000, but got an array with length 2001 instead.",
      code: 'array_above_max_length',
      param: 'file_ids',
    });
    expectError(
      await raw(emu, 'POST', `/vector_stores/${vs.id}/file_batches`, {
        files: ids2001.map((file_id) => ({ file_id })),
      }),
      400,
      { code: 'array_above_max_length', message: /maximum length 2000/ },
    );
    expectError(await raw(emu, 'POST', `/vector_stores/${vs.id}/file_batches`, { file_ids: [a, 'file-gone'] }), 404, {
      message: 'No such File object: file-gone',
    });
    const twoThousand = await raw(emu, 'POST', `/vector_stores/${vs.id}/file_batches`, { file_ids: ids2001.slice(1) });
    expect(twoThousand.status).toBe(200);
    expect(twoThousand.body.file_counts.total).toBe(1); // duplicates attach once
  });

  it('cancels a batch: unfinished files become cancelled', async () => {
    emu.configure({ fileProcessingDelayMs: 60_000 });
    const ids = await Promise.all([1, 2].map((i) => upload(openai, `c${i}.txt`, `cancel me ${i}`)));
    const vs = await openai.vectorStores.create({ name: 'cancel' });
    const batch = await openai.vectorStores.fileBatches.create(vs.id, { file_ids: ids });
    expect(batch).toMatchObject({ status: 'in_progress', file_counts: { in_progress: 2, total: 2 } });
    const cancelled = await raw(emu, 'POST', `/vector_stores/${vs.id}/file_batches/${batch.id}/cancel`);
    validateSchema('VectorStoreFileBatchObject', cancelled.body);
    expect(cancelled.body).toMatchObject({
      status: 'cancelled',
      file_counts: { in_progress: 0, cancelled: 2, total: 2 },
    });
    const polled = await openai.vectorStores.fileBatches.poll(vs.id, batch.id, { pollIntervalMs: 10 });
    expect(polled.status).toBe('cancelled');
    const files = await openai.vectorStores.fileBatches.listFiles(batch.id, {
      vector_store_id: vs.id,
      filter: 'cancelled',
    });
    expect(files.data.map((f) => f.id).sort()).toEqual([...ids].sort());
    expect(await openai.vectorStores.retrieve(vs.id)).toMatchObject({
      status: 'completed',
      file_counts: { cancelled: 2 },
    });
    expect(emu.stats().fileBatches).toEqual({ created: 1, cancelled: 1 });
  });

  it('holdProcessing keeps the attachments of matching Files in_progress, past the clock, detach and re-attach', async () => {
    const bad = await admin(emu, '/_emulator/config', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ holdProcessing: '(' }),
    });
    expect(bad.status).toBe(400);
    const set = await admin(emu, '/_emulator/config', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ holdProcessing: 'stuck\\.md$' }),
    });
    expect(set.status, await set.text()).toBe(200);
    try {
      const stuck = await upload(openai, 'label.stuck.md', 'never finishes');
      const fine = await upload(openai, 'fine.md', 'finishes');
      const vs = await openai.vectorStores.create({ name: 'held' });
      const batch = await openai.vectorStores.fileBatches.create(vs.id, { file_ids: [stuck, fine] });
      emu.advanceClock(DAY_MS); // far past the processing delay
      const polled = await raw(emu, 'GET', `/vector_stores/${vs.id}/file_batches/${batch.id}`);
      validateSchema('VectorStoreFileBatchObject', polled.body);
      expect(polled.body).toMatchObject({ status: 'in_progress', file_counts: { in_progress: 1, completed: 1 } });
      expect((await openai.vectorStores.files.retrieve(stuck, { vector_store_id: vs.id })).status).toBe('in_progress');
      expect((await openai.vectorStores.retrieve(vs.id)).status).toBe('in_progress');
      // Detaching cancels it; attaching it again holds it again.
      await openai.vectorStores.files.delete(stuck, { vector_store_id: vs.id });
      const again = await openai.vectorStores.files.create(vs.id, { file_id: stuck });
      emu.advanceClock(DAY_MS);
      expect((await openai.vectorStores.files.retrieve(again.id, { vector_store_id: vs.id })).status).toBe(
        'in_progress',
      );
      // Released: finishes at the next request.
      emu.configure({ holdProcessing: null });
      expect((await openai.vectorStores.files.retrieve(stuck, { vector_store_id: vs.id })).status).toBe('completed');
      expect((await openai.vectorStores.retrieve(vs.id)).status).toBe('completed');
    } finally {
      emu.configure({ holdProcessing: null });
    }
  });

  it('holdProcessing holds with no processing delay too', async () => {
    emu.configure({ fileProcessingDelayMs: 0, holdProcessing: '^held' });
    try {
      const id = await upload(openai, 'held.txt', 'held text');
      const vs = await openai.vectorStores.create({ name: 'held0', file_ids: [id] });
      expect(vs.file_counts).toMatchObject({ in_progress: 1, completed: 0 });
    } finally {
      emu.configure({ holdProcessing: null });
    }
  });

  it('sends openai-poll-after-ms when pollAfterMs is set, so the SDK poll helpers need no pollIntervalMs', async () => {
    emu.configure({ pollAfterMs: 20, fileProcessingDelayMs: 100 });
    try {
      const id = await upload(openai, 'poll.md', 'poll me');
      const vs = await openai.vectorStores.create({ name: 'poll' });
      const started = Date.now();
      const batch = await openai.vectorStores.fileBatches.createAndPoll(vs.id, { file_ids: [id] });
      expect(batch.status).toBe('completed');
      expect(Date.now() - started).toBeLessThan(2_000); // not the SDK's 5 s default
      const r = await raw(emu, 'GET', `/vector_stores/${vs.id}/file_batches/${batch.id}`);
      expect(r.headers.get('openai-poll-after-ms')).toBe('20');
    } finally {
      emu.configure({ pollAfterMs: null });
    }
    const r = await raw(emu, 'GET', '/vector_stores');
    expect(r.headers.get('openai-poll-after-ms')).toBeNull();
  });

  it('limits writes per store (429 rate_limit_exceeded with Retry-After) on the emulator clock', async () => {
    emu.configure({ vectorStoreWriteLimit: 3, fileProcessingDelayMs: 0 });
    const ids = await Promise.all([1, 2, 3, 4].map((i) => upload(openai, `w${i}.md`, `write ${i}`)));
    const vs = await openai.vectorStores.create({ name: 'writes', file_ids: [ids[0] as string] }); // creation is not a store write
    const other = await openai.vectorStores.create({ name: 'other' });
    await openai.vectorStores.files.create(vs.id, { file_id: ids[1] as string });
    await openai.vectorStores.fileBatches.create(vs.id, { file_ids: [ids[2] as string] });
    await openai.vectorStores.files.delete(ids[1] as string, { vector_store_id: vs.id });
    const limited = await raw(emu, 'POST', `/vector_stores/${vs.id}/files`, { file_id: ids[3] });
    expectError(limited, 429, {
      type: 'requests',
      code: 'rate_limit_exceeded',
      message: new RegExp(
        `^Rate limit reached for vector store ${vs.id} .*Limit 3, Used 3, Requested 1\\. Please try again in`,
      ),
    });
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    await expect(openai.vectorStores.files.create(vs.id, { file_id: ids[3] as string })).rejects.toBeInstanceOf(
      OpenAI.RateLimitError,
    );
    // other stores are unaffected; reads are not writes
    expect((await openai.vectorStores.files.create(other.id, { file_id: ids[3] as string })).status).toBe('completed');
    expect((await openai.vectorStores.files.list(vs.id)).data).toHaveLength(2);
    emu.advanceClock(60_000);
    expect((await openai.vectorStores.files.create(vs.id, { file_id: ids[3] as string })).status).toBe('completed');
    expect(emu.stats().rateLimited.vectorStoreWrites).toBe(2);
  });

  it('limits attributes: ≤ 16 keys, keys and string values ≤ 256 characters', async () => {
    const id = await upload(openai, 'attr.md', 'attributes');
    const vs = await openai.vectorStores.create({ name: 'attrs' });
    const attach = (attributes: unknown) =>
      raw(emu, 'POST', `/vector_stores/${vs.id}/files`, { file_id: id, attributes });
    const ok16 = await attach(Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, 'x'.repeat(256)])));
    expect(ok16.status).toBe(200);
    expectError(await attach(Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, i]))), 400, {
      code: 'object_above_max_properties',
      message: /at most 16 properties/,
    });
    expectError(await attach({ k: 'x'.repeat(257) }), 400, {
      code: 'string_above_max_length',
      param: 'attributes.k',
      message: /maximum length 256/,
    });
    expectError(await attach({ ['k'.repeat(257)]: 'v' }), 400, {
      code: 'string_above_max_length',
      message: /maximum length 256/,
    });
    expectError(await attach({ k: { nested: true } }), 400, {
      code: 'invalid_type',
      message: /^Invalid type for 'attributes.k'/,
    });
  });

  it('counts stores, batches, attachments and requests per endpoint for tests', async () => {
    const ids = await Promise.all([1, 2].map((i) => upload(openai, `s${i}.md`, `stat ${i}`)));
    const vs = await openai.vectorStores.create({ name: 'stats' });
    await openai.vectorStores.fileBatches.createAndPoll(vs.id, { file_ids: ids }, { pollIntervalMs: 20 });
    await openai.vectorStores.search(vs.id, { query: 'stat' });
    const stats = (await (await fetch(`${emu.url.replace(/\/v1$/, '')}/_emulator/stats`)).json()) as EmulatorStats;
    expect(stats.vectorStores).toEqual({ created: 1, deleted: 0, expired: 0, searches: 1 });
    expect(stats.fileBatches).toEqual({ created: 1, cancelled: 0 });
    expect(stats.vectorStoreFiles).toMatchObject({ attached: 2, completed: 2, failed: 0 });
    expect(stats.files).toMatchObject({ created: 2, uniqueContents: 2, duplicateUploads: 0 });
    expect(stats.storage).toMatchObject({ files: 2, vectorStores: 1, vectorStoreFiles: 2 });
    expect(stats.requests.byEndpoint).toMatchObject({
      'POST /v1/files': 2,
      'POST /v1/vector_stores': 1,
      'POST /v1/vector_stores/{vector_store_id}/file_batches': 1,
      'POST /v1/vector_stores/{vector_store_id}/search': 1,
    });
    expect(
      stats.requests.byEndpoint['GET /v1/vector_stores/{vector_store_id}/file_batches/{batch_id}'],
    ).toBeGreaterThanOrEqual(1);

    await fetch(`${emu.url.replace(/\/v1$/, '')}/_emulator/reset`, { method: 'POST' });
    expect((await raw(emu, 'GET', `/vector_stores/${vs.id}`)).status).toBe(404);
    expect(emu.stats().storage).toEqual({ files: 0, fileBytes: 0, vectorStores: 0, vectorStoreFiles: 0 });
  });
});

describe('vector store expiry on the emulator clock', () => {
  let emu: RunningEmulator;
  let openai: OpenAI;
  beforeAll(async () => {
    emu = await startEmulator({ fileProcessingDelayMs: 0 });
    openai = client(emu);
  });
  afterAll(() => emu.close());

  it('expires after expires_after.days of inactivity: attachments deleted, Files remain, writes refused', async () => {
    const ids = await Promise.all([1, 2].map((i) => upload(openai, `e${i}.md`, `expiring content ${i}`)));
    const vs = await openai.vectorStores.create({
      name: 'expiring',
      file_ids: ids,
      expires_after: { anchor: 'last_active_at', days: 1 },
    });
    expect(vs.expires_at).toBe(vs.created_at + 86_400);

    // activity (a search, a file write) pushes expiry back
    emu.advanceClock(DAY_MS - 60_000);
    await openai.vectorStores.search(vs.id, { query: 'content' });
    emu.advanceClock(DAY_MS - 60_000);
    const active = await openai.vectorStores.retrieve(vs.id);
    expect(active.status).toBe('completed');
    expect(active.last_active_at).toBeGreaterThan(vs.created_at + 86_000);

    emu.advanceClock(60_000 + 1_000);
    const expired = await raw(emu, 'GET', `/vector_stores/${vs.id}`);
    validateSchema('VectorStoreObject', expired.body);
    expect(expired.body).toMatchObject({ status: 'expired', usage_bytes: 0, file_counts: { total: 0, completed: 0 } });
    expect((await openai.vectorStores.files.list(vs.id)).data).toEqual([]);
    for (const id of ids) expect((await openai.files.retrieve(id)).id).toBe(id);
    expect((await openai.vectorStores.list()).data.find((s) => s.id === vs.id)?.status).toBe('expired');

    const refused = {
      message: `Vector store '${vs.id}' has expired and can no longer be used. Create a new vector store.`,
      code: null,
    };
    expectError(await raw(emu, 'POST', `/vector_stores/${vs.id}/files`, { file_id: ids[0] }), 400, refused);
    expectError(await raw(emu, 'POST', `/vector_stores/${vs.id}/file_batches`, { file_ids: ids }), 400, refused);
    expectError(await raw(emu, 'POST', `/vector_stores/${vs.id}/search`, { query: 'x' }), 400, refused);
    expectError(await raw(emu, 'POST', `/vector_stores/${vs.id}`, { name: 'revive' }), 400, refused);
    expectError(await raw(emu, 'GET', `/vector_stores/${vs.id}/files/${ids[0]}`), 404, { message: /No file found/ });
    expect(emu.stats()).toMatchObject({ vectorStores: { expired: 1 }, storage: { files: 2, vectorStoreFiles: 0 } });

    const del = await openai.vectorStores.delete(vs.id);
    expect(del.deleted).toBe(true);
  });

  it('a store without expires_after never expires; in-progress batches end cancelled when their store expires', async () => {
    emu.configure({ fileProcessingDelayMs: 10 * DAY_MS });
    const keep = await openai.vectorStores.create({ name: 'forever' });
    const id = await upload(openai, 'slow.md', 'slow');
    const vs = await openai.vectorStores.create({
      name: 'short',
      expires_after: { anchor: 'last_active_at', days: 2 },
    });
    const batch = await openai.vectorStores.fileBatches.create(vs.id, { file_ids: [id] });
    emu.advanceClock(3 * DAY_MS);
    expect((await openai.vectorStores.retrieve(keep.id)).status).toBe('completed');
    expect((await openai.vectorStores.retrieve(vs.id)).status).toBe('expired');
    const b = await openai.vectorStores.fileBatches.retrieve(batch.id, { vector_store_id: vs.id });
    expect(b).toMatchObject({ status: 'cancelled', file_counts: { cancelled: 1, in_progress: 0 } });
    emu.configure({ fileProcessingDelayMs: 0 });
  });

  it('processing delays follow the clock too', async () => {
    emu.configure({ fileProcessingDelayMs: 5 * 60_000 });
    const id = await upload(openai, 'later.md', 'later');
    const vs = await openai.vectorStores.create({ name: 'clock', file_ids: [id] });
    expect(vs.status).toBe('in_progress');
    await sleep(20);
    expect((await openai.vectorStores.retrieve(vs.id)).status).toBe('in_progress');
    emu.advanceClock(5 * 60_000);
    expect((await openai.vectorStores.retrieve(vs.id)).status).toBe('completed');
    emu.configure({ fileProcessingDelayMs: 0 });
  });
});

describe('vector store search', () => {
  let emu: RunningEmulator;
  let openai: OpenAI;
  let vsId: string;
  const files: Record<string, string> = {};
  beforeAll(async () => {
    emu = await startEmulator({ fileProcessingDelayMs: 0 });
    openai = client(emu);
    const docs: Array<[string, string, Record<string, string | number | boolean>]> = [
      [
        'vacuum.md',
        'VACUUM reclaims storage occupied by dead tuples in PostgreSQL tables.',
        { section: 'maintenance', version: 16, public: true },
      ],
      [
        'indexes.md',
        'A B-tree index speeds up equality and range queries on sortable data.',
        { section: 'indexes', version: 15, public: true },
      ],
      [
        'wal.md',
        'Write-ahead logging ensures durability: changes are logged before data files are written.',
        { section: 'reliability', version: 14, public: false },
      ],
    ];
    for (const [name, text] of docs) files[name] = await upload(openai, name, text);
    const vs = await openai.vectorStores.create({ name: 'search' });
    vsId = vs.id;
    await openai.vectorStores.fileBatches.createAndPoll(
      vsId,
      { files: docs.map(([name, , attributes]) => ({ file_id: files[name] as string, attributes })) },
      { pollIntervalMs: 20 },
    );
  });
  afterAll(() => emu.close());

  it('ranks the file sharing words with the query first; the raw page matches the schema', async () => {
    const r = await raw(emu, 'POST', `/vector_stores/${vsId}/search`, { query: 'how does vacuum reclaim dead tuples' });
    expect(r.status).toBe(200);
    validateSchema('VectorStoreSearchResultsPage', r.body);
    expect(r.body).toMatchObject({
      object: 'vector_store.search_results.page',
      search_query: ['how does vacuum reclaim dead tuples'],
      has_more: false,
      next_page: null,
    });
    expect(r.body.data[0]).toMatchObject({
      file_id: files['vacuum.md'],
      filename: 'vacuum.md',
      attributes: { section: 'maintenance', version: 16, public: true },
    });
    expect(r.body.data[0].content).toEqual([
      { type: 'text', text: 'VACUUM reclaims storage occupied by dead tuples in PostgreSQL tables.' },
    ]);
    const scores = r.body.data.map((d: { score: number }) => d.score);
    expect([...scores].sort((a: number, b: number) => b - a)).toEqual(scores);
    for (const s of scores) expect(s >= 0 && s <= 1).toBe(true);

    const page = await openai.vectorStores.search(vsId, {
      query: ['write-ahead logging durability', 'b-tree'],
      max_num_results: 2,
    });
    expect(page.data).toHaveLength(2);
    expect(page.data.map((d) => d.file_id).sort()).toEqual([files['indexes.md'], files['wal.md']].sort());
  });

  it('filters on attributes (comparison and compound) and honours score_threshold and max_num_results', async () => {
    const q = (body: Record<string, unknown>) =>
      raw(emu, 'POST', `/vector_stores/${vsId}/search`, { query: 'vacuum dead tuples', ...body });
    const ids = (r: Raw) => r.body.data.map((d: { file_id: string }) => d.file_id);

    const eq = await q({ filters: { type: 'eq', key: 'section', value: 'indexes' } });
    validateSchema('VectorStoreSearchResultsPage', eq.body);
    expect(ids(eq)).toEqual([files['indexes.md']]);
    expect(ids(await q({ filters: { type: 'ne', key: 'section', value: 'maintenance' } })).sort()).toEqual(
      [files['indexes.md'], files['wal.md']].sort(),
    );
    expect(ids(await q({ filters: { type: 'gte', key: 'version', value: 15 } })).sort()).toEqual(
      [files['vacuum.md'], files['indexes.md']].sort(),
    );
    expect(ids(await q({ filters: { type: 'lt', key: 'version', value: 15 } }))).toEqual([files['wal.md']]);
    expect(ids(await q({ filters: { type: 'in', key: 'section', value: ['reliability', 'nope'] } }))).toEqual([
      files['wal.md'],
    ]);
    expect(ids(await q({ filters: { type: 'nin', key: 'section', value: ['reliability', 'indexes'] } }))).toEqual([
      files['vacuum.md'],
    ]);
    expect(ids(await q({ filters: { type: 'eq', key: 'public', value: false } }))).toEqual([files['wal.md']]);
    expect(ids(await q({ filters: { type: 'eq', key: 'missing', value: 'x' } }))).toEqual([]);
    const compound = await q({
      filters: {
        type: 'and',
        filters: [
          { type: 'eq', key: 'public', value: true },
          {
            type: 'or',
            filters: [
              { type: 'eq', key: 'section', value: 'indexes' },
              { type: 'gt', key: 'version', value: 15 },
            ],
          },
        ],
      },
    });
    expect(ids(compound).sort()).toEqual([files['vacuum.md'], files['indexes.md']].sort());

    const sdk = await openai.vectorStores.search(vsId, {
      query: 'vacuum',
      filters: { type: 'eq', key: 'section', value: 'maintenance' },
    });
    expect(sdk.data.map((d) => d.file_id)).toEqual([files['vacuum.md']]);

    expect(await q({ max_num_results: 1 }).then(ids)).toEqual([files['vacuum.md']]);
    const strict = await q({ ranking_options: { ranker: 'auto', score_threshold: 0.99 } });
    expect(strict.body.data).toEqual([]);

    for (const body of [
      { max_num_results: 0 },
      { max_num_results: 51 },
      { ranking_options: { score_threshold: 1.5 } },
      { ranking_options: { ranker: 'fastest' } },
      { filters: { type: 'near', key: 'a', value: 1 } },
      { filters: { type: 'in', key: 'a', value: 'not-an-array' } },
      { filters: { type: 'and' } },
      { query: '' },
      { query: [] },
      { extra: 1 },
    ]) {
      const r = await q(body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      validateSchema('ErrorResponse', r.body);
    }
  });

  it('searches chunks of the file chunking strategy', async () => {
    const sentences = Array.from(
      { length: 60 },
      (_, i) => `Sentence number ${i} talks about topic ${i % 7 === 0 ? 'checkpoints' : 'replication'}.`,
    );
    const id = await upload(openai, 'long.txt', sentences.join(' '));
    await openai.vectorStores.files.createAndPoll(
      vsId,
      {
        file_id: id,
        chunking_strategy: { type: 'static', static: { max_chunk_size_tokens: 100, chunk_overlap_tokens: 20 } },
      },
      { pollIntervalMs: 10 },
    );
    const r = await raw(emu, 'POST', `/vector_stores/${vsId}/search`, { query: 'replication', max_num_results: 50 });
    const chunks = r.body.data.filter((d: { file_id: string }) => d.file_id === id);
    expect(chunks.length).toBeGreaterThan(5);
    for (const c of chunks) expect(c.content[0].text.length).toBeLessThan(sentences.join(' ').length);
  });
});

describe('vector stores: fault injection', () => {
  let emu: RunningEmulator;
  afterAll(() => emu.close());

  it('injects faults on vector store routes (default: every /v1 route)', async () => {
    emu = await startEmulator({ fileProcessingDelayMs: 0 });
    const openai = client(emu);
    const vs = await openai.vectorStores.create({ name: 'faults' });
    emu.configure({ errorRate: 1 });
    await expect(openai.vectorStores.retrieve(vs.id)).rejects.toBeInstanceOf(OpenAI.InternalServerError);
    const search = await raw(emu, 'POST', `/vector_stores/${vs.id}/search`, { query: 'x' });
    expect([500, 503]).toContain(search.status);
    validateSchema('ErrorResponse', search.body);
    emu.configure({ faultRoutes: ['/v1/embeddings'] });
    expect((await openai.vectorStores.retrieve(vs.id)).id).toBe(vs.id);
    emu.configure({ errorRate: 0, dropRate: 1, faultRoutes: ['GET /v1/vector_stores/{vector_store_id}'] });
    await expect(openai.vectorStores.retrieve(vs.id)).rejects.toBeInstanceOf(OpenAI.APIConnectionError);
    expect((await openai.vectorStores.list()).data).toHaveLength(1);
    expect(emu.stats().faults.drop).toBe(1);
  });
});
