/**
 * OpenAI-style error bodies. Every error the emulator sends has the spec's
 * `ErrorResponse` shape (`{error:{message,type,param,code}}`, all four keys
 * present, `param`/`code` possibly null), and the wording of the real service
 * where it is known (docs/openai-facts.md, "Embeddings" errors and "Rate limits" 429
 * bodies), because clients branch on `type`/`code` and log `message`.
 */

/** The `error` object of the spec's `ErrorResponse` schema. */
export interface OpenAIError {
  message: string;
  type: string;
  param: string | null;
  code: string | null;
}

/** The spec's `ErrorResponse`: what every non-2xx response carries. */
export interface OpenAIErrorBody {
  error: OpenAIError;
}

/**
 * A failure a handler throws; the server turns it into a response with
 * `status`, `body` and extra `headers` (e.g. `retry-after`).
 */
export class ApiError extends Error {
  readonly status: number;
  readonly body: OpenAIErrorBody;
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, error: OpenAIError, headers: Record<string, string> = {}) {
    super(error.message);
    this.name = 'ApiError';
    this.status = status;
    this.body = { error };
    this.headers = headers;
  }
}

const API_REFERENCE = 'https://platform.openai.com/docs/api-reference';

function invalid(message: string, param: string | null = null, code: string | null = null): OpenAIError {
  return { message, type: 'invalid_request_error', param, code };
}

/**
 * 400 for a request field that fails the spec's schema, worded like the
 * service's JSON-path validator, e.g. `'$.input' is invalid.` (seen for an
 * empty-string input and for more than 2048 inputs).
 */
export function invalidField(jsonPath: string): ApiError {
  return new ApiError(400, invalid(`'${jsonPath}' is invalid. Please check the API reference: ${API_REFERENCE}.`));
}

/** 400 with a free-form `invalid_request_error` message. */
export function invalidRequest(message: string, param: string | null = null, code: string | null = null): ApiError {
  return new ApiError(400, invalid(message, param, code));
}

/** 400 for a body that is not JSON (the service's wording). */
export function malformedJson(): ApiError {
  return invalidRequest(
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)",
  );
}

/** 400 for a body key the endpoint does not know (`additionalProperties: false` in the spec). */
export function unrecognizedArgument(name: string): ApiError {
  return invalidRequest(`Unrecognized request argument supplied: ${name}`);
}

/** 400 for a missing required body key. */
export function missingParameter(name: string): ApiError {
  return invalidRequest(`Missing required parameter: '${name}'.`, name, 'missing_required_parameter');
}

/**
 * 400 when one input exceeds the model's context (docs/openai-facts.md, "Embeddings":
 * "This model's maximum context length is 8192 tokens, however you requested
 * N tokens (...)"; `type` invalid_request_error, `param`/`code` null).
 * @param contextLength the length the message quotes (8192)
 * @param requested tokens in the offending input
 */
export function contextLengthExceeded(contextLength: number, requested: number): ApiError {
  return invalidRequest(
    `This model's maximum context length is ${contextLength} tokens, however you requested ${requested} tokens (${requested} in your prompt; 0 for the completion). Please reduce your prompt; or completion length.`,
  );
}

/**
 * 400 when the inputs of one request sum to more than the per-request cap
 * (docs/openai-facts.md, "Embeddings": `type` and `code` are both `max_tokens_per_request`).
 */
export function maxTokensPerRequest(requested: number, max: number): ApiError {
  return new ApiError(400, {
    message: `Requested ${requested} tokens, max ${max} tokens per request`,
    type: 'max_tokens_per_request',
    param: null,
    code: 'max_tokens_per_request',
  });
}

/** 404 for an unknown model (the service's `model_not_found`). */
export function modelNotFound(model: string): ApiError {
  return new ApiError(
    404,
    invalid(`The model \`${model}\` does not exist or you do not have access to it.`, null, 'model_not_found'),
  );
}

/** 404 for a path/method the API does not have (the service's "Invalid URL"). */
export function invalidUrl(method: string, path: string): ApiError {
  return new ApiError(404, invalid(`Invalid URL (${method} ${path})`));
}

/** 401 when no Bearer key was sent (the service answers this one with `code: null`). */
export function missingApiKey(): ApiError {
  return new ApiError(
    401,
    invalid(
      "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username. You can obtain an API key from https://platform.openai.com/account/api-keys.",
    ),
  );
}

/** 401 `invalid_api_key` for a key that is not accepted; the key is masked as the service does. */
export function incorrectApiKey(key: string): ApiError {
  const masked =
    key.length > 8 ? `${key.slice(0, 3)}${'*'.repeat(key.length - 7)}${key.slice(-4)}` : '*'.repeat(key.length);
  return new ApiError(
    401,
    invalid(
      `Incorrect API key provided: ${masked}. You can find your API key at https://platform.openai.com/account/api-keys.`,
      null,
      'invalid_api_key',
    ),
  );
}

/** 413 when the request body exceeds the server's cap. */
export function payloadTooLarge(maxBytes: number): ApiError {
  return new ApiError(413, invalid(`Request body too large: the maximum is ${maxBytes} bytes.`));
}

/** An injected 500 or 503 (`type: server_error`, the service's wording). */
export function serverError(status: 500 | 503): ApiError {
  const message =
    status === 503
      ? 'The server is overloaded or not ready yet.'
      : 'The server had an error while processing your request. Sorry about that!';
  return new ApiError(status, { message, type: 'server_error', param: null, code: null });
}

/**
 * 429 `insufficient_quota` (docs/openai-facts.md, "Rate limits": not retryable, so no
 * `Retry-After` header).
 */
export function insufficientQuota(): ApiError {
  return new ApiError(429, {
    message:
      'You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.',
    type: 'insufficient_quota',
    param: null,
    code: 'insufficient_quota',
  });
}

/** What a rate-limit rejection reports; see {@link rateLimitExceeded}. */
export interface RateLimitDetails {
  model: string;
  organization: string;
  /** Which limit was hit: `requests` (RPM) or `tokens` (TPM); also the body's `type`. */
  kind: 'requests' | 'tokens';
  limit: number;
  used: number;
  requested: number;
  /** Printed as a Go duration in "Please try again in …". */
  retryAfterMs: number;
  /** Formatted wait, e.g. `2.812s`. */
  retryAfterText: string;
}

/**
 * 429 `rate_limit_exceeded` with the service's sentence
 * (docs/openai-facts.md, "Rate limits": `type` is `tokens` for TPM, `requests` for RPM).
 */
export function rateLimitExceeded(d: RateLimitDetails, headers: Record<string, string>): ApiError {
  const unit = d.kind === 'tokens' ? 'tokens per min (TPM)' : 'requests per min (RPM)';
  return new ApiError(
    429,
    {
      message: `Rate limit reached for ${d.model} in organization ${d.organization} on ${unit}: Limit ${d.limit}, Used ${d.used}, Requested ${d.requested}. Please try again in ${d.retryAfterText}. Visit https://platform.openai.com/account/rate-limits to learn more.`,
      type: d.kind,
      param: null,
      code: 'rate_limit_exceeded',
    },
    headers,
  );
}

/**
 * 429 for a request that needs more tokens than the whole TPM limit: waiting
 * cannot help, so (like the service) no `Retry-After` is sent.
 */
export function requestTooLarge(model: string, organization: string, limit: number, requested: number): ApiError {
  return new ApiError(429, {
    message: `Request too large for ${model} in organization ${organization} on tokens per min (TPM): Limit ${limit}, Requested ${requested}. The input or output tokens must be reduced in order to run successfully. Visit https://platform.openai.com/account/rate-limits to learn more.`,
    type: 'tokens',
    param: null,
    code: 'rate_limit_exceeded',
  });
}

// ---------------------------------------------------------------------------
// Files and Vector Stores. Validation errors use the service's newer
// parameter-validation wording (`Invalid 'x': …`, with `param` set to the
// JSON path and a `code` such as `array_above_max_length`).

/** Describes a JSON value's type the way the service's validator does. */
export function jsonTypeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a decimal';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'boolean') return 'a boolean';
  return `a ${typeof value}`;
}

/** 400 `unknown_parameter` for a key the schema does not have (`additionalProperties: false`). */
export function unknownParameter(path: string): ApiError {
  return invalidRequest(`Unknown parameter: '${path}'.`, path, 'unknown_parameter');
}

/** 400 `invalid_type`, e.g. "Invalid type for 'name': expected a string, but got an integer instead." */
export function invalidType(path: string, expected: string, value: unknown): ApiError {
  return invalidRequest(
    `Invalid type for '${path}': expected ${expected}, but got ${jsonTypeName(value)} instead.`,
    path,
    'invalid_type',
  );
}

/** 400 `invalid_value` for a value outside an enum. */
export function invalidValue(path: string, value: unknown, supported: readonly string[]): ApiError {
  const quoted = supported.map((s) => `'${s}'`);
  const list =
    quoted.length <= 2 ? quoted.join(' and ') : `${quoted.slice(0, -1).join(', ')}, and ${quoted[quoted.length - 1]}`;
  return invalidRequest(`Invalid value: '${String(value)}'. Supported values are: ${list}.`, path, 'invalid_value');
}

/** 400 `array_above_max_length`. */
export function arrayTooLong(path: string, max: number, length: number): ApiError {
  return invalidRequest(
    `Invalid '${path}': array too long. Expected an array with maximum length ${max}, but got an array with length ${length} instead.`,
    path,
    'array_above_max_length',
  );
}

/** 400 `empty_array`. */
export function emptyArray(path: string): ApiError {
  return invalidRequest(
    `Invalid '${path}': empty array. Expected an array with minimum length 1, but got an empty array instead.`,
    path,
    'empty_array',
  );
}

/** 400 `object_above_max_properties`. */
export function tooManyProperties(path: string, max: number, count: number): ApiError {
  return invalidRequest(
    `Invalid '${path}': too many properties. Expected an object with at most ${max} properties, but got an object with ${count} properties instead.`,
    path,
    'object_above_max_properties',
  );
}

/** 400 `string_above_max_length`. */
export function stringTooLong(path: string, max: number, length: number): ApiError {
  return invalidRequest(
    `Invalid '${path}': string too long. Expected a string with maximum length ${max}, but got a string with length ${length} instead.`,
    path,
    'string_above_max_length',
  );
}

/** 400 `string_below_min_length` (empty strings where text is required). */
export function stringTooShort(path: string, min: number, length: number): ApiError {
  return invalidRequest(
    `Invalid '${path}': string too short. Expected a string with minimum length ${min}, but got a string with length ${length} instead.`,
    path,
    'string_below_min_length',
  );
}

/** 400 `integer_below_min_value` / `decimal_below_min_value`. */
export function belowMinimum(path: string, min: number, value: number): ApiError {
  const kind = Number.isInteger(value) ? 'integer' : 'decimal';
  return invalidRequest(
    `Invalid '${path}': ${kind} below minimum value. Expected a value >= ${min}, but got ${value} instead.`,
    path,
    `${kind}_below_min_value`,
  );
}

/** 400 `integer_above_max_value` / `decimal_above_max_value`. */
export function aboveMaximum(path: string, max: number, value: number): ApiError {
  const kind = Number.isInteger(value) ? 'integer' : 'decimal';
  return invalidRequest(
    `Invalid '${path}': ${kind} above maximum value. Expected a value <= ${max}, but got ${value} instead.`,
    path,
    `${kind}_above_max_value`,
  );
}

/** 404 for an unknown File id (the service's wording: `param` is `id`, `code` null). */
export function fileNotFound(fileId: string): ApiError {
  return new ApiError(404, invalid(`No such File object: ${fileId}`, 'id'));
}

/** 404 `not_found` for an unknown (or deleted) vector store. */
export function vectorStoreNotFound(vectorStoreId: string): ApiError {
  return new ApiError(404, invalid(`No vector store found with id '${vectorStoreId}'.`, null, 'not_found'));
}

/** 404 `not_found` for a file that is not attached to the store. */
export function vectorStoreFileNotFound(vectorStoreId: string, fileId: string): ApiError {
  return new ApiError(
    404,
    invalid(`No file found with id '${fileId}' in vector store '${vectorStoreId}'.`, null, 'not_found'),
  );
}

/** 404 `not_found` for an unknown file batch of the store. */
export function fileBatchNotFound(vectorStoreId: string, batchId: string): ApiError {
  return new ApiError(
    404,
    invalid(`No file batch found with id '${batchId}' in vector store '${vectorStoreId}'.`, null, 'not_found'),
  );
}

/**
 * 400 for a write (attach, batch, modify, search) to an expired store: the
 * service refuses to use an expired store; retrieve it to see `status: "expired"`.
 */
export function vectorStoreExpired(vectorStoreId: string): ApiError {
  return invalidRequest(
    `Vector store '${vectorStoreId}' has expired and can no longer be used. Create a new vector store.`,
  );
}

/** 400 for `GET /files/{id}/content` of a purpose that cannot be downloaded (docs/openai-facts.md, "Files"). */
export function downloadNotAllowed(purpose: string): ApiError {
  return invalidRequest(`Not allowed to download files of purpose: ${purpose}`);
}

/** 413 for an upload over the per-file cap (docs/openai-facts.md, "Files": 512 MB). */
export function fileTooLarge(bytes: number, maxBytes: number): ApiError {
  const mb = maxBytes / (1024 * 1024);
  const limit = Number.isInteger(mb) ? `${mb} MB` : `${maxBytes} bytes`;
  return new ApiError(
    413,
    invalid(`File is too large (${bytes} bytes). The maximum file size is ${limit}.`, 'file', 'file_too_large'),
  );
}

/** What a per-store write rejection reports; see {@link vectorStoreWriteRateLimited}. */
export interface StoreWriteLimitDetails {
  vectorStoreId: string;
  organization: string;
  limit: number;
  used: number;
  /** Formatted wait, e.g. `2.812s`. */
  retryAfterText: string;
}

/**
 * 429 `rate_limit_exceeded` for the per-store write limit
 * (docs/openai-facts.md, "Vector stores": 300 requests/min across `…/files` and `…/file_batches`); the
 * body's `type` is `requests`, as for RPM.
 */
export function vectorStoreWriteRateLimited(d: StoreWriteLimitDetails, headers: Record<string, string>): ApiError {
  return new ApiError(
    429,
    {
      message: `Rate limit reached for vector store ${d.vectorStoreId} in organization ${d.organization} on file write requests per min: Limit ${d.limit}, Used ${d.used}, Requested 1. Please try again in ${d.retryAfterText}. Use file batches to attach many files with few requests. Visit https://platform.openai.com/account/rate-limits to learn more.`,
      type: 'requests',
      param: null,
      code: 'rate_limit_exceeded',
    },
    headers,
  );
}
