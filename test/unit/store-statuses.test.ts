import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EXTERNAL_STORE_MODE, FILE_STATUS, FILESET_FILE_STATUS, FILESET_STATUS } from '../../src/store/statuses.ts';

const MIGRATIONS = new URL('../../migrations/', import.meta.url);

/**
 * The values of `CHECK (<column> IN (...))` of `table.column` (default
 * `status`), from every migration (in its CREATE TABLE, or a later
 * `ALTER TABLE … ADD CONSTRAINT`), last one wins.
 */
function checkedStatuses(table: string, column = 'status'): string[] | undefined {
  let found: string[] | undefined;
  for (const name of readdirSync(MIGRATIONS)
    .filter((f) => f.endsWith('.sql'))
    .sort()) {
    const sql = readFileSync(new URL(name, MIGRATIONS), 'utf8');
    const create = new RegExp(`CREATE TABLE ${table} \\(([\\s\\S]*?)\\n\\);`).exec(sql);
    const check =
      create &&
      new RegExp(`\\b${column}\\b[^\\n]*?\\n?[^\\n]*?CHECK \\(${column} IN \\(([^)]*)\\)\\)`).exec(create[1]!);
    if (check) found = [...check[1]!.matchAll(/'([^']+)'/g)].map((m) => m[1]!);
    const altered = new RegExp(
      `ALTER TABLE ${table} ADD CONSTRAINT \\w+\\s+CHECK \\(${column} IN \\(([^)]*)\\)\\)`,
    ).exec(sql);
    if (altered) found = [...altered[1]!.matchAll(/'([^']+)'/g)].map((m) => m[1]!);
  }
  return found;
}

describe('registry status names shared by SQL and TypeScript', () => {
  it.each([
    ['files', FILE_STATUS],
    ['filesets', FILESET_STATUS],
    ['fileset_files', FILESET_FILE_STATUS],
  ] as const)('%s.status: the constants equal the CHECK constraint in migrations/', (table, constants) => {
    const sql = checkedStatuses(table);
    expect(sql, `no CHECK (status IN (…)) found for ${table}`).toBeDefined();
    expect([...Object.values(constants)].sort()).toEqual([...sql!].sort());
  });

  it('external_vector_stores.mode: the constants equal the CHECK constraint in migrations/', () => {
    const sql = checkedStatuses('external_vector_stores', 'mode');
    expect(sql).toBeDefined();
    expect([...Object.values(EXTERNAL_STORE_MODE)].sort()).toEqual([...sql!].sort());
  });

  it('keys equal values (queries interpolate them as SQL literals)', () => {
    for (const set of [FILE_STATUS, FILESET_STATUS, FILESET_FILE_STATUS, EXTERNAL_STORE_MODE]) {
      for (const [k, v] of Object.entries(set)) expect(v).toBe(k);
      expect(Object.isFrozen(set)).toBe(true);
    }
  });
});
