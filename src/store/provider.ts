/**
 * Embedding provenance (docs/design.md, "Embeddings provider"): the database
 * records which embeddings provider filled it (migration 0009), and a
 * process configured for another one refuses to start. Vectors of two
 * providers must never mix: dedup by chunk hash would keep the emulator's
 * fake vectors under the real model's name forever.
 */
import type pg from 'pg';
import { ProviderMismatchError } from '../errors/index.ts';

export interface ProviderCheck {
  /** The provider the database records (after this call: always set). */
  recorded: string;
  /** True when this call wrote it: a new database, or one that held no vectors and no Files. */
  wrote: boolean;
}

/**
 * Records `provider` as the database's provider when it has none (or holds
 * no vectors and no Files yet: nothing was filled), else checks it matches.
 * Idempotent and safe under concurrent starts (one row, `ON CONFLICT`).
 * @param where names the database and schema in the error message
 * @throws ProviderMismatchError naming both providers and how to migrate.
 */
export async function checkEmbeddingsProvider(pool: pg.Pool, provider: string, where: string): Promise<ProviderCheck> {
  const inserted = await pool.query(
    `INSERT INTO embeddings_provider (provider) VALUES ($1) ON CONFLICT (singleton) DO NOTHING`,
    [provider],
  );
  if (inserted.rowCount === 1) return { recorded: provider, wrote: true };
  const { rows } = await pool.query<{ provider: string; filled: boolean }>(
    `SELECT provider,
            EXISTS (SELECT 1 FROM embeddings) OR EXISTS (SELECT 1 FROM files) AS filled
       FROM embeddings_provider`,
  );
  const recorded = rows[0]!.provider;
  if (recorded === provider) return { recorded, wrote: false };
  if (!rows[0]!.filled) {
    // Nothing was filled by the recorded provider: the database follows the process.
    await pool.query(`UPDATE embeddings_provider SET provider = $1, recorded_at = now() WHERE provider = $2`, [
      provider,
      recorded,
    ]);
    return { recorded: provider, wrote: true };
  }
  const configured =
    provider === 'emulator'
      ? 'the OpenAI emulator (OPENAI_EMULATOR=true or no OPENAI_API_KEY)'
      : `"${provider}" (OPENAI_API_KEY set${provider === 'openai' ? '' : `, EMBEDDINGS_PROVIDER=${provider}`})`;
  throw new ProviderMismatchError(
    `${where} holds embeddings from provider "${recorded}", but this process is configured for ${configured}. ` +
      `Vectors of two providers must not mix (dedup would keep the old ones forever). Either configure this process ` +
      `for "${recorded}" (${recorded === 'emulator' ? 'OPENAI_EMULATOR=true' : `OPENAI_API_KEY, EMBEDDINGS_PROVIDER=${recorded}`}), ` +
      'or migrate: point DATABASE_SCHEMA at a new schema and ingest again, or delete the old vectors and Files ' +
      '(docs/design.md, "Embeddings provider") so this process records its own.',
  );
}
