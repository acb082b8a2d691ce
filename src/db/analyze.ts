/**
 * Planner statistics after a bulk load. A first crawl inserts thousands of
 * documents and chunks; until those tables are analyzed the planner still
 * believes them empty and the per-page lookups of the next re-crawl run on
 * guesses. Autovacuum's analyze catches up on its own schedule, or never
 * where it is turned off (as on this project's CI machine). PostgreSQL's
 * manual says to run ANALYZE after populating a database ("Populating a
 * Database", "Run ANALYZE Afterwards": /usr/share/doc/postgresql-doc-15/html/populate.html).
 * Sluice does it when a run ends, for its tables that changed enough, by
 * autovacuum's own threshold.
 */
import type pg from 'pg';

/** autovacuum_analyze_threshold's default: rows changed before a table is worth analyzing. */
const BASE_THRESHOLD_ROWS = 50;
/** autovacuum_analyze_scale_factor's default: the share of a table's rows that must change. */
const SCALE_FACTOR = 0.1;

/**
 * ANALYZEs the tables of the current schema whose rows changed since their
 * last analyze by more than 50 + 10 % of their estimated rows (autovacuum's
 * default trigger).
 * @returns the tables analyzed (none when the statistics views are unavailable).
 * @throws what ANALYZE throws (e.g. the statement timeout).
 */
export async function analyzeChangedTables(pool: Pick<pg.Pool, 'query'>): Promise<string[]> {
  const { rows } = await pool.query<{ table: string }>(
    `SELECT s.relname AS table
     FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
     WHERE s.schemaname = current_schema()
       AND s.n_mod_since_analyze > $1 + $2 * greatest(c.reltuples, 0)
     ORDER BY s.relname`,
    [BASE_THRESHOLD_ROWS, SCALE_FACTOR],
  );
  for (const r of rows) await pool.query(`ANALYZE ${quoteIdent(r.table)}`);
  return rows.map((r) => r.table);
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
