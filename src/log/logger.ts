/**
 * JSON logs (pino) with secrets redacted: API keys, Authorization headers and
 * credentials in URLs (`user:pass@`, anywhere in a message or a logged
 * object; src/log/redact.ts) never reach a log line.
 */
import { pino, type Logger } from 'pino';
import { redactDeep, redactSecrets } from './redact.ts';

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
      formatters: {
        level: (label) => ({ level: label }),
        log: (object) => redactDeep(object) as Record<string, unknown>,
      },
      hooks: {
        // The message and any interpolation arguments: credentials in URLs become `***@`.
        logMethod(args, method) {
          method.apply(
            this,
            args.map((a) => (typeof a === 'string' ? redactSecrets(a) : a)) as Parameters<typeof method>,
          );
        },
      },
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
    return redactSecrets(url);
  }
}
