/**
 * Decision: **do not start**. The process cannot do its work until an
 * operator fixes something outside it; the message names the setting or
 * service and the fix. The CLI prints the message alone and exits 2
 * (src/cli/run-command.ts); nothing is retried.
 */
export class StartupError extends Error {
  override name = 'StartupError';
}

/** The environment holds an invalid value; the message names the variable and the fix. */
export class ConfigError extends StartupError {
  override name = 'ConfigError';
}

/** Redis does not answer; the message names the URL and the command that starts Redis. */
export class RedisUnavailableError extends StartupError {
  override name = 'RedisUnavailableError';
}

/** The database cannot be reached; the message says how to fix it. */
export class DatabaseUnavailableError extends StartupError {
  override name = 'DatabaseUnavailableError';
}

/** The server or an extension cannot run Sluice's schema; the message says what to install. */
export class UnsupportedDatabaseError extends StartupError {
  override name = 'UnsupportedDatabaseError';
}

/** A queue has no processor in this version: a worker for it would leave its jobs to pile up unseen. */
export class NoProcessorError extends StartupError {
  override name = 'NoProcessorError';
}

/**
 * The database was filled by another embeddings provider than this process
 * is configured for (the emulator against the real API, or two named
 * providers); the message names both and how to migrate.
 */
export class ProviderMismatchError extends StartupError {
  override name = 'ProviderMismatchError';
}
