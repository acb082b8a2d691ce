/**
 * The emulator's Files endpoints (`/v1/files`), driven over real HTTP on
 * loopback by the official `openai` SDK, and by fetch where the raw body
 * matters; every body is validated against the OpenAPI spec's schemas.
 */
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startEmulator, type EmulatorStats, type RunningEmulator } from '../../src/index.ts';
import { admin, client, expectError, raw } from '../helpers/emulator-http.ts';
import { validateSchema } from '../helpers/openapi.ts';

function form(fields: Record<string, string>, file?: { name: string; bytes: Uint8Array | string }): FormData {
  const f = new FormData();
  for (const [k, v] of Object.entries(fields)) f.append(k, v);
  if (file) f.append('file', new Blob([file.bytes]), file.name);
  return f;
}

describe('Files: create, retrieve, list, download, delete', () => {
  let emu: RunningEmulator;
  let openai: OpenAI;
  beforeAll(async () => {
    emu = await startEmulator({ fileProcessingDelayMs: 0 });
    openai = client(emu);
  });
  afterAll(() => emu.close());
  beforeEach(() => emu.reset());

  it('uploads with the SDK and answers OpenAIFile objects', async () => {
    const before = Math.floor(emu.now() / 1000);
    const created = await openai.files.create({
      file: await toFile(Buffer.from('# Hello\n\nworld'), 'a.md'),
      purpose: 'assistants',
    });
    expect(created).toMatchObject({
      object: 'file',
      bytes: 14,
      filename: 'a.md',
      purpose: 'assistants',
      status: 'processed',
    });
    expect(created.id).toMatch(/^file-[A-Za-z0-9]{22}$/);
    expect(created.created_at).toBeGreaterThanOrEqual(before);
    expect(created).not.toHaveProperty('expires_at');

    const r = await raw(emu, 'GET', `/files/${created.id}`);
    expect(r.status).toBe(200);
    validateSchema('OpenAIFile', r.body);
    expect(r.body).toEqual(JSON.parse(JSON.stringify(created)));
    expect(r.headers.get('x-request-id')).toMatch(/^req_/);

    const retrieved = await openai.files.retrieve(created.id);
    expect(retrieved.id).toBe(created.id);
  });

  it('accepts every documented purpose and rejects others', async () => {
    for (const purpose of ['assistants', 'batch', 'fine-tune', 'vision', 'user_data', 'evals']) {
      const r = await raw(emu, 'POST', '/files', form({ purpose }, { name: 'x.txt', bytes: 'x' }));
      expect(r.status, purpose).toBe(200);
      expect(r.body.purpose).toBe(purpose);
    }
    expectError(await raw(emu, 'POST', '/files', form({ purpose: 'answers' }, { name: 'x.txt', bytes: 'x' })), 400, {
      message:
        "Invalid value: 'answers'. Supported values are: 'assistants', 'batch', 'fine-tune', 'vision', 'user_data', and 'evals'.",
      param: 'purpose',
      code: 'invalid_value',
    });
    expectError(await raw(emu, 'POST', '/files', form({}, { name: 'x.txt', bytes: 'x' })), 400, {
      message: "Missing required parameter: 'purpose'.",
      code: 'missing_required_parameter',
    });
    expectError(await raw(emu, 'POST', '/files', form({ purpose: 'assistants' })), 400, {
      message: "Missing required parameter: 'file'.",
    });
    expectError(await raw(emu, 'POST', '/files', form({ purpose: 'assistants', file: 'not a file' })), 400, {
      message: /^Invalid type for 'file'/,
    });
    expectError(await raw(emu, 'POST', '/files', { purpose: 'assistants' }), 400, { message: /multipart\/form-data/ });
    expect(emu.stats().files.created).toBe(6);
  });

  it('accepts expires_after {anchor: created_at, seconds 3600..2592000} and expires the File on the emulator clock', async () => {
    const file = await openai.files.create({
      file: await toFile(Buffer.from('temp'), 'temp.txt'),
      purpose: 'user_data',
      expires_after: { anchor: 'created_at', seconds: 3600 },
    });
    expect(file.expires_at).toBe(file.created_at + 3600);
    validateSchema('OpenAIFile', (await raw(emu, 'GET', `/files/${file.id}`)).body);

    for (const seconds of ['3599', '2592001', 'soon']) {
      const r = await raw(
        emu,
        'POST',
        '/files',
        form(
          { purpose: 'user_data', 'expires_after[anchor]': 'created_at', 'expires_after[seconds]': seconds },
          { name: 'a.txt', bytes: 'a' },
        ),
      );
      expect(r.status, seconds).toBe(400);
      validateSchema('ErrorResponse', r.body);
      expect(r.body.error.param).toBe('expires_after.seconds');
    }
    const badAnchor = await raw(
      emu,
      'POST',
      '/files',
      form(
        { purpose: 'user_data', 'expires_after[anchor]': 'last_active_at', 'expires_after[seconds]': '3600' },
        { name: 'a.txt', bytes: 'a' },
      ),
    );
    expect(badAnchor.status).toBe(400);

    emu.advanceClock(3599_000);
    expect((await openai.files.retrieve(file.id)).id).toBe(file.id);
    emu.advanceClock(1_000);
    expectError(await raw(emu, 'GET', `/files/${file.id}`), 404, {
      message: `No such File object: ${file.id}`,
      param: 'id',
      code: null,
    });
    expect(emu.stats().files.expired).toBe(1);
  });

  it('lists with limit/order/after/has_more and the purpose filter; the SDK pages through all', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const f = await openai.files.create({
        file: await toFile(Buffer.from(`file ${i}`), `f${i}.txt`),
        purpose: i % 2 ? 'batch' : 'assistants',
      });
      ids.push(f.id);
    }
    const all = await raw(emu, 'GET', '/files');
    validateSchema('ListFilesResponse', all.body);
    expect(all.body.data.map((f: { id: string }) => f.id)).toEqual([...ids].reverse()); // default order desc
    expect(all.body).toMatchObject({ object: 'list', first_id: ids[4], last_id: ids[0], has_more: false });

    const page1 = await raw(emu, 'GET', '/files?limit=2&order=asc');
    validateSchema('ListFilesResponse', page1.body);
    expect(page1.body.data.map((f: { id: string }) => f.id)).toEqual(ids.slice(0, 2));
    expect(page1.body.has_more).toBe(true);
    const page2 = await raw(emu, 'GET', `/files?limit=2&order=asc&after=${page1.body.last_id}`);
    expect(page2.body.data.map((f: { id: string }) => f.id)).toEqual(ids.slice(2, 4));
    const page3 = await raw(emu, 'GET', `/files?limit=2&order=asc&after=${page2.body.last_id}`);
    expect(page3.body.data.map((f: { id: string }) => f.id)).toEqual(ids.slice(4));
    expect(page3.body.has_more).toBe(false);

    const batch = await raw(emu, 'GET', '/files?purpose=batch');
    expect(batch.body.data.map((f: { id: string }) => f.id)).toEqual([ids[3], ids[1]]);

    const seen: string[] = [];
    for await (const f of openai.files.list({ limit: 2, order: 'asc' })) seen.push(f.id);
    expect(seen).toEqual(ids);

    // A cursor that was deleted in the meantime keeps its place.
    await openai.files.delete(ids[1] as string);
    const afterDeleted = await raw(emu, 'GET', `/files?order=asc&after=${ids[1]}`);
    expect(afterDeleted.body.data.map((f: { id: string }) => f.id)).toEqual(ids.slice(2));

    for (const q of ['limit=0', 'limit=10001', 'limit=abc', 'order=up', 'after=file-nope']) {
      const r = await raw(emu, 'GET', `/files?${q}`);
      expect(r.status, q).toBe(400);
      validateSchema('ErrorResponse', r.body);
    }
  });

  it('returns an empty list with null first_id/last_id, as the service does', async () => {
    const r = await raw(emu, 'GET', '/files');
    expect(r.body).toEqual({ object: 'list', data: [], first_id: null, last_id: null, has_more: false });
  });

  it('refuses to download purpose assistants and serves other purposes', async () => {
    const a = await openai.files.create({ file: await toFile(Buffer.from('secret'), 'a.md'), purpose: 'assistants' });
    const r = await raw(emu, 'GET', `/files/${a.id}/content`);
    expect(r.status).toBe(400);
    validateSchema('ErrorResponse', r.body);
    expect(r.body).toEqual({
      error: {
        message: 'Not allowed to download files of purpose: assistants',
        type: 'invalid_request_error',
        param: null,
        code: null,
      },
    });
    await expect(openai.files.content(a.id)).rejects.toBeInstanceOf(OpenAI.BadRequestError);

    const bytes = Buffer.from([0, 1, 2, 250, 251, 252]);
    const b = await openai.files.create({ file: await toFile(bytes, 'data.jsonl'), purpose: 'batch' });
    const res = await openai.files.content(b.id);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(Buffer.from(await res.arrayBuffer())).toEqual(bytes);
  });

  it('deletes: DeleteFileResponse, then 404 with the service body; detaches from every vector store', async () => {
    const f = await openai.files.create({
      file: await toFile(Buffer.from('attached text'), 'doc.md'),
      purpose: 'assistants',
    });
    const keep = await openai.files.create({
      file: await toFile(Buffer.from('other text'), 'other.md'),
      purpose: 'assistants',
    });
    const vs1 = await openai.vectorStores.create({ name: 'one', file_ids: [f.id, keep.id] });
    const vs2 = await openai.vectorStores.create({ name: 'two', file_ids: [f.id] });
    expect((await openai.vectorStores.retrieve(vs1.id)).file_counts.total).toBe(2);

    const del = await raw(emu, 'DELETE', `/files/${f.id}`);
    expect(del.status).toBe(200);
    validateSchema('DeleteFileResponse', del.body);
    expect(del.body).toEqual({ id: f.id, object: 'file', deleted: true });

    expectError(await raw(emu, 'GET', `/files/${f.id}`), 404, {
      message: `No such File object: ${f.id}`,
      param: 'id',
      code: null,
    });
    expectError(await raw(emu, 'DELETE', `/files/${f.id}`), 404, { message: `No such File object: ${f.id}` });
    expectError(await raw(emu, 'GET', `/files/${f.id}/content`), 404, { message: `No such File object: ${f.id}` });
    await expect(openai.files.retrieve(f.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);

    const s1 = await openai.vectorStores.retrieve(vs1.id);
    expect(s1.file_counts).toMatchObject({ total: 1, completed: 1 });
    expect((await openai.vectorStores.files.list(vs1.id)).data.map((x) => x.id)).toEqual([keep.id]);
    expect((await openai.vectorStores.retrieve(vs2.id)).file_counts.total).toBe(0);
    expect(emu.stats()).toMatchObject({ files: { deleted: 1 }, vectorStoreFiles: { attached: 3, detached: 2 } });
  });

  it('caps uploads at maxFileBytes (413, OpenAI-style body)', async () => {
    emu.configure({ maxFileBytes: 1024 });
    try {
      const ok = await raw(
        emu,
        'POST',
        '/files',
        form({ purpose: 'assistants' }, { name: 'ok.txt', bytes: new Uint8Array(1024).fill(97) }),
      );
      expect(ok.status).toBe(200);
      const big = await raw(
        emu,
        'POST',
        '/files',
        form({ purpose: 'assistants' }, { name: 'big.txt', bytes: new Uint8Array(1025).fill(97) }),
      );
      expectError(big, 413, {
        message: 'File is too large (1025 bytes). The maximum file size is 1024 bytes.',
        param: 'file',
        code: 'file_too_large',
      });
      // A body far over the cap is refused before it is read.
      const huge = await raw(
        emu,
        'POST',
        '/files',
        form({ purpose: 'assistants' }, { name: 'huge.txt', bytes: new Uint8Array(3 * 1024 * 1024) }),
      );
      expectError(huge, 413, { message: /Request body too large/ });
      await expect(
        openai.files.create({ file: await toFile(Buffer.alloc(2048), 'a.txt'), purpose: 'assistants' }),
      ).rejects.toMatchObject({ status: 413 });
      expect(emu.settings().maxFileBytes).toBe(1024);
    } finally {
      emu.configure({ maxFileBytes: 512 * 1024 * 1024 });
    }
    expect(emu.settings().maxFileBytes).toBe(536_870_912);
  });

  it('counts uploads, bytes, unique contents and requests per endpoint; reset clears Files', async () => {
    await openai.files.create({ file: await toFile(Buffer.from('same'), 'a.md'), purpose: 'assistants' });
    await openai.files.create({ file: await toFile(Buffer.from('same'), 'b.md'), purpose: 'assistants' });
    const c = await openai.files.create({
      file: await toFile(Buffer.from('different'), 'c.md'),
      purpose: 'assistants',
    });
    await openai.files.retrieve(c.id);
    await openai.files.list();
    const stats = (await (await admin(emu, '/_emulator/stats')).json()) as EmulatorStats;
    expect(stats.files).toEqual({
      created: 3,
      bytesUploaded: 17,
      uniqueContents: 2,
      duplicateUploads: 1,
      deleted: 0,
      expired: 0,
    });
    expect(stats.requests.byEndpoint).toEqual({
      'GET /v1/files': 1,
      'GET /v1/files/{file_id}': 1,
      'POST /v1/files': 3,
    });
    expect(stats.storage).toMatchObject({ files: 3, fileBytes: 17 });

    const reset = await admin(emu, '/_emulator/reset', { method: 'POST' });
    expect(reset.status).toBe(200);
    expect((await raw(emu, 'GET', '/files')).body.data).toEqual([]);
    expect((await raw(emu, 'GET', `/files/${c.id}`)).status).toBe(404);
    expect(emu.stats().files.created).toBe(0);
  });

  it('requires a Bearer key like every /v1 route', async () => {
    const res = await fetch(`${emu.url}/files`);
    expect(res.status).toBe(401);
    validateSchema('ErrorResponse', await res.json());
  });
});

describe('Files: fault injection', () => {
  let emu: RunningEmulator;
  afterAll(() => emu.close());

  it('hits the Files routes like embeddings, unless faultRoutes leaves them out', async () => {
    emu = await startEmulator({ errorRate: 1 });
    const openai = client(emu);
    const err = await openai.files
      .create({ file: await toFile(Buffer.from('x'), 'x.md'), purpose: 'assistants' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect((await raw(emu, 'GET', '/files')).status).toBeGreaterThanOrEqual(500);
    expect(emu.stats().files.created).toBe(0);

    emu.configure({ faultRoutes: ['POST /v1/embeddings'] });
    const f = await openai.files.create({ file: await toFile(Buffer.from('x'), 'x.md'), purpose: 'assistants' });
    expect(f.object).toBe('file');
    const emb = await raw(emu, 'POST', '/embeddings', { model: 'text-embedding-3-small', input: 'x' });
    expect(emb.status).toBeGreaterThanOrEqual(500);

    emu.configure({ faultRoutes: ['/v1/files'] });
    expect((await raw(emu, 'GET', `/files/${f.id}`)).status).toBeGreaterThanOrEqual(500);
    expect((await raw(emu, 'POST', '/embeddings', { model: 'text-embedding-3-small', input: 'x' })).status).toBe(200);
    expect(emu.stats().faults.error500 + emu.stats().faults.error503).toBe(4);
  });
});

describe('admin clock', () => {
  let emu: RunningEmulator;
  beforeAll(async () => {
    emu = await startEmulator();
  });
  afterAll(() => emu.close());

  it('reports and advances the emulator clock', async () => {
    const before = (await (await admin(emu, '/_emulator/clock')).json()) as {
      nowMs: number;
      now: number;
      offsetMs: number;
    };
    expect(before.offsetMs).toBe(0);
    expect(Math.abs(before.nowMs - Date.now())).toBeLessThan(5_000);
    const res = await admin(emu, '/_emulator/clock', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ advanceMs: 86_400_000 }),
    });
    expect(res.status).toBe(200);
    const after = (await res.json()) as { nowMs: number; now: number; offsetMs: number };
    expect(after.offsetMs).toBe(86_400_000);
    expect(after.nowMs - before.nowMs).toBeGreaterThanOrEqual(86_400_000);
    expect(after.now).toBe(Math.floor(after.nowMs / 1000));
    expect(emu.stats().clock.offsetMs).toBe(86_400_000);

    const f = await client(emu).files.create({ file: await toFile(Buffer.from('x'), 'x.md'), purpose: 'assistants' });
    expect(f.created_at).toBeGreaterThanOrEqual(before.now + 86_400);

    for (const body of [{ advanceMs: -1 }, { advanceMs: 'x' }, { other: 1 }, [1]]) {
      const bad = await admin(emu, '/_emulator/clock', { method: 'POST', body: JSON.stringify(body) });
      expect(bad.status).toBe(400);
      validateSchema('ErrorResponse', await bad.json());
    }
    expect(() => emu.advanceClock(-5)).toThrow(RangeError);
    // reset keeps the clock (it never runs backwards)
    emu.reset();
    expect(emu.stats().clock.offsetMs).toBe(86_400_000);
  });
});
