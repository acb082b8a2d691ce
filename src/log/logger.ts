/**
 * JSON logs (pino) with secrets redacted: API keys, Authorization headers and
 * passwords in connection strings never reach a log line.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

const REDACT_PATHS = [
  'apiKey',
  '*.apiKey',
  'openai.apiKey',
  'config.openai.apiKey',
  'headers.authorization',
  'headers.Authorization',
  '*.headers.authorization',
  '*.headers.Authorization',
  'req.headers.authorization',
  'authorization',
  'Authorization',
  'OPENAI_API_KEY',
  '*.OPENAI_API_KEY',
];

/**
 * Creates the process logger. Logs go to stderr so that stdout stays free
 * for command output (`--json`, `export`).
 */
export function createLogger(level: string, name = 'sluice'): Logger {
  return pino(
    {
      name,
      level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ dest: 2, sync: true }),
  );
}

/** Replaces the password of a connection URL by `***` for logs and messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}
