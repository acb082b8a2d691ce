/**
 * The drift gauge: `sluice_index_drift{kind}`, read at scrape time from
 * what the worker process registered with {@link setDriftSource} (cleanup
 * workers: the latest whole-deployment reconcile recorded in Postgres,
 * src/reconcile/reconcile.ts `latestDrift`). Every such process reports the
 * same values, whoever ran the reconcile (the scheduled cleanup or `sluice
 * reconcile`): aggregate with `max by (kind)`. Until a reconcile has run
 * the series are absent, so a process that never looked claims no zero.
 * Series definitions of everything else are in ./metrics.ts, in the same registry.
 */
import { Gauge } from 'prom-client';
import { DRIFT_KINDS, type DriftCounts } from '../reconcile/drift.ts';
import { registry } from './metrics.ts';

/** The kinds of drift (`kind` label values), from src/reconcile/drift.ts. */
export { DRIFT_KINDS };

let driftSource: (() => Promise<DriftCounts | undefined>) | undefined;
let driftRead: Promise<DriftCounts | undefined> | undefined;

/** Where this process reads the drift gauge from at scrape time; undefined stops reporting it. */
export function setDriftSource(source: (() => Promise<DriftCounts | undefined>) | undefined): void {
  driftSource = source;
}

async function readDrift(): Promise<DriftCounts | undefined> {
  if (!driftSource) return undefined;
  driftRead ??= driftSource().finally(() => {
    driftRead = undefined;
  });
  return driftRead.catch(() => undefined);
}

/**
 * Differences between the registry, OpenAI and pgvector that the latest
 * reconcile over the whole deployment left, by `kind` (DRIFT_KINDS): after
 * its repairs with `--fix`, else what it found. Not 0: the index drifted
 * (docs/design.md, "Reconcile"). A failed read leaves the series absent.
 */
export const indexDrift = new Gauge({
  name: 'sluice_index_drift',
  help: 'Differences between the registry, OpenAI and pgvector left by the latest reconcile, by kind.',
  labelNames: ['kind'] as const,
  registers: [registry],
  async collect() {
    const drift = await readDrift();
    this.reset();
    if (drift) for (const kind of DRIFT_KINDS) this.set({ kind }, drift[kind]);
  },
});
