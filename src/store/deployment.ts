/**
 * The deployment id that labels every File and vector store this
 * deployment creates (src/openai/labels.ts): `DEPLOYMENT_ID` when set,
 * else the id the database generated once (migration 0006), so two
 * deployments with their own databases differ without any setting
 * (docs/design.md, "Labels, orphans and deadlines").
 */
import type pg from 'pg';
import type { Config } from '../config/config.ts';

/** One read per pool (the id never changes while a process runs). */
const cache = new WeakMap<pg.Pool, Promise<string>>();

/** @returns the deployment id this process labels with */
export function deploymentId(deps: { config: Pick<Config, 'deploymentId'>; db: { pool: pg.Pool } }): Promise<string> {
  if (deps.config.deploymentId) return Promise.resolve(deps.config.deploymentId);
  const pool = deps.db.pool;
  let id = cache.get(pool);
  if (!id) {
    id = pool.query<{ id: string }>(`SELECT id FROM deployment`).then(({ rows }) => {
      if (!rows[0]) throw new Error('the deployment table has no row: run `sluice migrate`');
      return rows[0].id;
    });
    id.catch(() => cache.delete(pool));
    cache.set(pool, id);
  }
  return id;
}
