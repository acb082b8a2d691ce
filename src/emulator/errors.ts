/**
 * OpenAI-style error bodies. Every error the emulator sends has the spec's
 * `ErrorResponse` shape (`{error:{message,type,param,code}}`, all four keys
 * present, `param`/`code` possibly null), and the wording of the real service
 * where it is known (FACTS.md, "Embeddings" errors and "Rate limits" 429
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
 * 400 when one input exceeds the model's context (FACTS.md, "Embeddings":
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
 * (FACTS.md, "Embeddings": `type` and `code` are both `max_tokens_per_request`).
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
  const masked = key.length > 8 ? `${key.slice(0, 3)}${'*'.repeat(key.length - 7)}${key.slice(-4)}` : '*'.repeat(key.length);
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
 * 429 `insufficient_quota` (FACTS.md, "Rate limits": not retryable, so no
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
 * 429 `rate_limit_exceeded` with the service's sentence (FACTS.md, "Rate
 * limits": `type` is `tokens` for TPM, `requests` for RPM).
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
