/**
 * Files — `/v1/files` (docs/openai-facts.md, "Files"; spec operations createFile,
 * listFiles, retrieveFile, deleteFile, downloadFile):
 *
 * - `POST /v1/files` (multipart/form-data: `file`, `purpose`, optional
 *   `expires_after[anchor]=created_at` + `expires_after[seconds]` 3600..2592000,
 *   as the SDK encodes it): ≤ `maxFileBytes` (512 MiB) per file, else 413.
 *   Bytes are kept in memory.
 * - `GET /v1/files` (`purpose`, `limit` 1..10000 default 10000, `order`
 *   default desc, `after`), `GET /v1/files/{file_id}`.
 * - `DELETE /v1/files/{file_id}` → `{id, object:"file", deleted:true}`; it
 *   also detaches the File from every vector store.
 * - `GET /v1/files/{file_id}/content`: the bytes, except for purpose
 *   `assistants` (400 "Not allowed to download files of purpose: assistants";
 *   read the parsed text through the vector store file content endpoint).
 */
import {
  downloadNotAllowed,
  fileTooLarge,
  invalidType,
  invalidValue,
  missingParameter,
  unknownParameter,
} from './errors.ts';
import type { HandlerResult, RequestContext, Route } from './http-types.ts';
import { parseMultipart } from './multipart.ts';
import { listPage, paginate, parseListQuery } from './pagination.ts';
import { fileJson, type StoredFile } from './storage.ts';
import { integerInRange } from './validate.ts';

/** Purposes accepted at upload (docs/openai-facts.md, "Files"). */
export const FILE_PURPOSES: readonly string[] = Object.freeze([
  'assistants',
  'batch',
  'fine-tune',
  'vision',
  'user_data',
  'evals',
]);

/** Purposes whose content cannot be downloaded. */
const NOT_DOWNLOADABLE = new Set(['assistants']);

/** Multipart overhead allowed on top of `maxFileBytes` for an upload body. */
const FORM_OVERHEAD_BYTES = 1024 * 1024;

const KNOWN_FIELDS = new Set(['purpose', 'expires_after[anchor]', 'expires_after[seconds]', 'expires_after']);

async function createFile(ctx: RequestContext): Promise<HandlerResult> {
  const { state } = ctx;
  const form = await parseMultipart(ctx.headers, ctx.body);
  for (const name of [...form.fields.keys(), ...form.files.keys()]) {
    if (name !== 'file' && !KNOWN_FIELDS.has(name)) throw unknownParameter(name);
  }
  const upload = form.files.get('file');
  if (!upload) {
    if (form.fields.has('file')) throw invalidType('file', 'a file', form.fields.get('file'));
    throw missingParameter('file');
  }
  const purpose = form.fields.get('purpose');
  if (purpose === undefined || purpose === '') throw missingParameter('purpose');
  if (!FILE_PURPOSES.includes(purpose)) throw invalidValue('purpose', purpose, FILE_PURPOSES);
  const expiresAfter = parseExpiresAfter(form.fields);
  const max = state.settings.maxFileBytes;
  if (upload.bytes.length > max) throw fileTooLarge(upload.bytes.length, max);
  state.storage.settle();
  const file = state.storage.createFile(upload.filename || 'file', purpose, upload.bytes, expiresAfter);
  return { body: fileJson(file) };
}

/** `expires_after` from bracketed form fields (what the SDK sends) or a JSON string. */
function parseExpiresAfter(fields: Map<string, string>): number | null {
  let anchor = fields.get('expires_after[anchor]');
  let seconds: unknown = fields.get('expires_after[seconds]');
  const json = fields.get('expires_after');
  if (json !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      throw invalidType('expires_after', 'an object', json);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw invalidType('expires_after', 'an object', parsed);
    const o = parsed as Record<string, unknown>;
    anchor = typeof o['anchor'] === 'string' ? o['anchor'] : undefined;
    seconds = o['seconds'];
  }
  if (anchor === undefined && seconds === undefined) return null;
  if (anchor === undefined) throw missingParameter('expires_after.anchor');
  if (anchor !== 'created_at') throw invalidValue('expires_after.anchor', anchor, ['created_at']);
  if (seconds === undefined) throw missingParameter('expires_after.seconds');
  const n = typeof seconds === 'string' && /^-?\d+$/.test(seconds.trim()) ? Number(seconds) : seconds;
  return integerInRange(n, 'expires_after.seconds', 3600, 2_592_000);
}

function listFiles(ctx: RequestContext): HandlerResult {
  const { storage } = ctx.state;
  storage.settle();
  const q = parseListQuery(ctx.query, 10_000, 10_000);
  const purpose = ctx.query.get('purpose');
  const items: StoredFile[] = [...storage.files.values()].filter((f) => !purpose || f.purpose === purpose);
  const { data, hasMore } = paginate(items, q, (id) => storage.fileSeq.of(id));
  return { body: listPage(data.map(fileJson), hasMore) };
}

function retrieveFile(ctx: RequestContext): HandlerResult {
  const { storage } = ctx.state;
  storage.settle();
  return { body: fileJson(storage.getFile(ctx.params['file_id'] ?? '')) };
}

function deleteFile(ctx: RequestContext): HandlerResult {
  const { storage } = ctx.state;
  storage.settle();
  const id = ctx.params['file_id'] ?? '';
  storage.deleteFile(id);
  return { body: { id, object: 'file', deleted: true } };
}

function downloadFile(ctx: RequestContext): HandlerResult {
  const { storage } = ctx.state;
  storage.settle();
  const file = storage.getFile(ctx.params['file_id'] ?? '');
  if (NOT_DOWNLOADABLE.has(file.purpose)) throw downloadNotAllowed(file.purpose);
  return { body: file.bytes, headers: { 'content-type': 'application/octet-stream' } };
}

/** The Files routes. */
export function fileRoutes(): Route[] {
  return [
    {
      method: 'POST',
      path: '/v1/files',
      api: true,
      handler: createFile,
      maxBodyBytes: (s) => s.maxFileBytes + FORM_OVERHEAD_BYTES,
    },
    { method: 'GET', path: '/v1/files', api: true, handler: listFiles },
    { method: 'GET', path: '/v1/files/{file_id}', api: true, handler: retrieveFile },
    { method: 'DELETE', path: '/v1/files/{file_id}', api: true, handler: deleteFile },
    { method: 'GET', path: '/v1/files/{file_id}/content', api: true, handler: downloadFile },
  ];
}
