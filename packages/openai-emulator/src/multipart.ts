/**
 * multipart/form-data parsing for `POST /v1/files`, with the platform's own
 * parser (undici's `Request.formData()` in Node 24), so no dependency.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { invalidRequest } from './errors.ts';

/** An uploaded file part. */
export interface UploadedFile {
  filename: string;
  bytes: Buffer;
}

/** The fields of a multipart body: text values, and file parts. */
export interface MultipartForm {
  fields: Map<string, string>;
  files: Map<string, UploadedFile>;
}

/**
 * Parses a multipart/form-data body. For a repeated field the last value wins.
 * @throws ApiError 400 when the content type is not multipart/form-data or the body does not parse
 */
export async function parseMultipart(headers: IncomingHttpHeaders, body: Buffer): Promise<MultipartForm> {
  const contentType = headers['content-type'] ?? '';
  if (!/^multipart\/form-data\b/i.test(contentType)) {
    throw invalidRequest(
      `Invalid Content-Type header (${contentType || 'none'}), expected multipart/form-data. (HINT: If you're using curl, you can pass in \`-F\` instead of \`-d\`)`,
    );
  }
  let form: FormData;
  try {
    form = await new Request('http://emulator.invalid/', {
      method: 'POST',
      headers: { 'content-type': contentType },
      body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength),
    }).formData();
  } catch {
    throw invalidRequest('Could not parse the multipart form data of your request.');
  }
  const fields = new Map<string, string>();
  const files = new Map<string, UploadedFile>();
  for (const [name, value] of form.entries()) {
    if (typeof value === 'string') fields.set(name, value);
    else files.set(name, { filename: value.name, bytes: Buffer.from(await value.arrayBuffer()) });
  }
  return { fields, files };
}
