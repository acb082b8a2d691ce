/**
 * The Grafana dashboard and the Prometheus alerts must only refer to metrics
 * (and label values) that the code registers: a renamed metric otherwise
 * leaves an empty panel or an alert that can never fire, and nothing fails.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import {
  CHUNK_OUTCOMES,
  CLEANUP_REMOTE_RESOURCES,
  CLEANUP_RESOURCES,
  COST_KINDS,
  DELETION_HELD_REASONS,
  DOCUMENT_REMOVAL_REASONS,
  DOCUMENT_OUTCOMES,
  FILE_BATCH_STATUSES,
  FILE_BYTES_OUTCOMES,
  FILE_OUTCOMES,
  JOB_OUTCOMES,
  PAGE_OUTCOMES,
  QUEUE_STATES,
  RATE_LIMIT_TYPES,
  SAVED_KINDS,
  SCHEDULE_TICK_OUTCOMES,
  TOKEN_OUTCOMES,
  VECTOR_STORE_OUTCOMES,
  registry,
} from '../../src/metrics/metrics.ts';
// The scrape-time backlog series register in the same registry when their collector loads.
import '../../src/metrics/backlog.ts';
import '../../src/metrics/schedules.ts';
import { DRIFT_KINDS } from '../../src/metrics/drift.ts';

const root = path.resolve(import.meta.dirname, '../..');
const read = (p: string) => readFileSync(path.join(root, p), 'utf8');

// ---------------------------------------------------------------------------
// A small PromQL reader: enough to find selectors, not a full parser.
// ---------------------------------------------------------------------------

const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'atan2',
  'inf',
  'nan',
]);

/** A vector selector found in an expression: metric name and its label matchers. */
interface Selector {
  metric: string;
  matchers: Array<{ label: string; op: string; value: string }>;
}

/** Vector selectors of a PromQL expression (function names, keywords and grouping labels excluded). */
function selectors(expr: string): Selector[] {
  const out: Selector[] = [];
  const src = expr
    // Grafana variables in range brackets and values: $__rate_interval, $queue.
    .replace(/\[[^\]]*\]/g, '[]')
    // `offset 15m`: a duration, not a metric named "m".
    .replace(/\boffset\s+-?[0-9][0-9a-z]*/g, ' ')
    // Label lists of by/without/on/ignoring/group_left/group_right are labels, not metrics.
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  // name{matchers} or a bare name; a name followed by "(" is a function call.
  const re = /([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?(\s*\()?|"(?:[^"\\]|\\.)*"/g;
  for (const m of src.matchAll(re)) {
    const [whole, name, braces, call] = m;
    if (whole.startsWith('"') || name === undefined) continue; // a string literal (e.g. in label_replace)
    if (call !== undefined || KEYWORDS.has(name.toLowerCase())) continue;
    // Skip label names inside braces matched on their own (cannot happen: braces are consumed with the name).
    const matchers = [...(braces ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)].map(
      ([, label, op, value]) => ({ label: label ?? '', op: op ?? '', value: value ?? '' }),
    );
    out.push({ metric: name, matchers });
  }
  return out;
}

/** `label_values(metric, label)` of Grafana variable queries. */
function variableSelectors(query: string): Selector[] {
  const m = /label_values\(\s*([^,)]+?)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)/.exec(query);
  return m?.[1] !== undefined ? selectors(m[1]) : [];
}

describe('the PromQL reader of this test', () => {
  it('finds metric names and matchers, not functions, keywords or grouping labels', () => {
    const got = selectors(
      'histogram_quantile(0.95, sum by (le, queue) (rate(sluice_job_duration_seconds_bucket{queue=~"$queue",outcome="completed"}[$__rate_interval]))) / on (queue) group_left sum without (instance) (up) unless absent(foo{a!="x"}) unless bar offset 15m',
    );
    expect(got.map((s) => s.metric)).toEqual(['sluice_job_duration_seconds_bucket', 'up', 'foo', 'bar']);
    expect(got[0]?.matchers).toEqual([
      { label: 'queue', op: '=~', value: '$queue' },
      { label: 'outcome', op: '=', value: 'completed' },
    ]);
    expect(variableSelectors('label_values(sluice_jobs_total, queue)').map((s) => s.metric)).toEqual([
      'sluice_jobs_total',
    ]);
  });
});

// ---------------------------------------------------------------------------
// What the registry exposes
// ---------------------------------------------------------------------------

interface Known {
  /** The metric family a series name belongs to. */
  family: string;
  labels: string[];
}

const known = new Map<string, Known>();
for (const metric of registry.getMetricsAsArray()) {
  const json = metric as unknown as { name: string; labelNames?: string[]; constructor: { name: string } };
  const family = json.name;
  const labels = [...(json.labelNames ?? [])];
  const type = json.constructor.name;
  const names =
    type === 'Histogram'
      ? [`${family}_bucket`, `${family}_sum`, `${family}_count`]
      : type === 'Summary'
        ? [family, `${family}_sum`, `${family}_count`]
        : [family];
  for (const n of names)
    known.set(n, { family, labels: type === 'Histogram' && n.endsWith('_bucket') ? [...labels, 'le'] : labels });
}

/** Closed label sets: a matcher on these labels must use one of these values. */
const CLOSED: Record<string, Record<string, readonly string[]>> = {
  sluice_jobs_total: { outcome: JOB_OUTCOMES },
  sluice_job_duration_seconds: { outcome: JOB_OUTCOMES },
  sluice_queue_jobs: { state: QUEUE_STATES },
  sluice_documents_total: { outcome: DOCUMENT_OUTCOMES },
  sluice_chunks_total: { outcome: CHUNK_OUTCOMES },
  sluice_pages_total: { outcome: PAGE_OUTCOMES },
  sluice_embedding_tokens_total: { outcome: TOKEN_OUTCOMES },
  sluice_embedding_rate_limited_total: { type: RATE_LIMIT_TYPES },
  sluice_cost_usd_total: { kind: COST_KINDS },
  sluice_saved_usd_total: { kind: SAVED_KINDS },
  sluice_files_total: { outcome: FILE_OUTCOMES },
  sluice_file_bytes_total: { outcome: FILE_BYTES_OUTCOMES },
  sluice_vector_stores_total: { outcome: VECTOR_STORE_OUTCOMES },
  sluice_file_batch_files_total: { status: FILE_BATCH_STATUSES },
  sluice_cleanup_deleted_total: { resource: CLEANUP_RESOURCES },
  sluice_cleanup_failed_total: { resource: CLEANUP_REMOTE_RESOURCES },
  sluice_schedule_ticks_total: { outcome: SCHEDULE_TICK_OUTCOMES },
  sluice_documents_deleted_total: { reason: DOCUMENT_REMOVAL_REASONS },
  sluice_deletions_held_total: { reason: DELETION_HELD_REASONS },
  sluice_index_drift: { kind: DRIFT_KINDS },
};

/** Labels Prometheus adds to every scraped series (see grafana/prometheus/prometheus.yml). */
const TARGET_LABELS = ['job', 'instance', 'service', 'stack'];

/** Problems with one selector, as readable strings (empty when fine). */
function check(sel: Selector, extraMetrics: Record<string, string[]> = {}): string[] {
  const extra = extraMetrics[sel.metric];
  const k = known.get(sel.metric) ?? (extra ? { family: sel.metric, labels: extra } : undefined);
  if (!k) return [`${sel.metric} is not registered in src/metrics/`];
  const problems: string[] = [];
  for (const { label, op, value } of sel.matchers) {
    if (label === '__name__') continue;
    if (!k.labels.includes(label) && !TARGET_LABELS.includes(label)) {
      problems.push(`${sel.metric} has no label "${label}" (labels: ${k.labels.join(', ')})`);
      continue;
    }
    const allowed = CLOSED[k.family]?.[label];
    if (!allowed || value.includes('$')) continue;
    // Plain alternatives of =~ ("waiting|prioritized") are checked one by one.
    const values = op === '=~' || op === '!~' ? value.split('|').filter((v) => /^[a-z_]+$/.test(v)) : [value];
    for (const v of values) {
      if (!allowed.includes(v))
        problems.push(`${sel.metric}{${label}${op}"${value}"}: "${v}" is not one of ${allowed.join('|')}`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------
// The dashboard
// ---------------------------------------------------------------------------

interface Panel {
  id?: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  gridPos?: { h: number; w: number; x: number; y: number };
  targets?: Array<{ expr?: string; datasource?: { uid?: string } }>;
  panels?: Panel[];
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Array<{ name: string; query: string | { query: string }; datasource?: { uid?: string } }> };
}

const dashboard = JSON.parse(read('grafana/dashboards/sluice.json')) as Dashboard;
const allPanels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const exprs = allPanels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr ?? '' })));

describe('grafana/dashboards/sluice.json', () => {
  it('is the provisioned overview dashboard', () => {
    expect(dashboard.uid).toBe('sluice-overview');
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(39);
    const rows = dashboard.panels.filter((p) => p.type === 'row').map((p) => p.title);
    expect(rows).toEqual(['Throughput', 'Backlog', 'Dedup', 'Money', 'Rate limits', 'Job latency', 'Re-index']);
    expect(exprs.length).toBeGreaterThanOrEqual(20);
    for (const { panel, expr } of exprs) expect(expr.trim(), `empty query in panel "${panel}"`).not.toBe('');
  });

  it('uses the datasource uid that the provisioning file sets', () => {
    const provisioning = parseYaml(read('grafana/provisioning/datasources/prometheus.yml')) as {
      datasources: Array<{ uid: string; type: string }>;
    };
    const uid = provisioning.datasources.find((d) => d.type === 'prometheus')?.uid;
    expect(uid).toBe('prometheus');
    for (const p of allPanels.filter((x) => x.type !== 'row')) {
      expect(p.datasource?.uid, `panel "${p.title}"`).toBe(uid);
      for (const t of p.targets ?? []) expect(t.datasource?.uid, `a query of panel "${p.title}"`).toBe(uid);
    }
    for (const v of dashboard.templating.list) expect(v.datasource?.uid, `variable ${v.name}`).toBe(uid);
  });

  it('has unique panel ids and panels that do not overlap', () => {
    const ids = allPanels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const placed = allPanels.filter((p) => p.gridPos);
    for (const [i, a] of placed.entries()) {
      const ga = a.gridPos!;
      expect(ga.x + ga.w, `panel "${a.title}" is wider than the grid`).toBeLessThanOrEqual(24);
      for (const b of placed.slice(i + 1)) {
        const gb = b.gridPos!;
        const overlap = ga.x < gb.x + gb.w && gb.x < ga.x + ga.w && ga.y < gb.y + gb.h && gb.y < ga.y + ga.h;
        expect(overlap, `panels "${a.title}" and "${b.title}" overlap`).toBe(false);
      }
    }
  });

  it('refers only to registered metrics, labels and label values', () => {
    const problems: string[] = [];
    const used = new Set<string>();
    for (const { panel, expr } of exprs) {
      const sels = selectors(expr);
      if (sels.length === 0) problems.push(`panel "${panel}": no metric found in ${expr}`);
      for (const s of sels) {
        used.add(s.metric);
        problems.push(...check(s).map((p) => `panel "${panel}": ${p}`));
      }
    }
    for (const v of dashboard.templating.list) {
      const q = typeof v.query === 'string' ? v.query : v.query.query;
      const sels = variableSelectors(q);
      if (sels.length === 0) problems.push(`variable ${v.name}: no metric found in ${q}`);
      for (const s of sels) problems.push(...check(s).map((p) => `variable ${v.name}: ${p}`));
    }
    expect(problems).toEqual([]);
    // The panels the brief asks for are there.
    for (const m of [
      'sluice_jobs_total',
      'sluice_documents_total',
      'sluice_embedding_tokens_total',
      'sluice_queue_jobs',
      'sluice_chunks_total',
      'sluice_files_total',
      'sluice_vector_stores_total',
      'sluice_cost_usd_total',
      'sluice_saved_usd_total',
      'sluice_embedding_rate_limited_total',
      'sluice_embedding_budget_wait_seconds_bucket',
      'sluice_embedding_batch_tokens_bucket',
      'sluice_job_duration_seconds_bucket',
      'sluice_schedule_ticks_total',
      'sluice_schedule_last_success_timestamp_seconds',
      'sluice_schedule_interval_seconds',
      'sluice_documents_deleted_total',
      'sluice_deletions_held_total',
    ]) {
      expect(used, m).toContain(m);
    }
  });

  it('the check catches a metric or label value that does not exist', () => {
    expect(check({ metric: 'sluice_jobs_totl', matchers: [] })).toHaveLength(1);
    expect(
      check({ metric: 'sluice_jobs_total', matchers: [{ label: 'outcom', op: '=', value: 'completed' }] }),
    ).toHaveLength(1);
    expect(
      check({ metric: 'sluice_chunks_total', matchers: [{ label: 'outcome', op: '=~', value: 'new|dedup' }] }),
    ).toHaveLength(1);
    expect(
      check({ metric: 'sluice_queue_jobs', matchers: [{ label: 'state', op: '=~', value: 'waiting|prioritized' }] }),
    ).toEqual([]);
  });
});

// ---------------------------------------------------------------------------
// The alerts
// ---------------------------------------------------------------------------

describe('grafana/prometheus/alerts.yml', () => {
  const alerts = parseYaml(read('grafana/prometheus/alerts.yml')) as {
    groups: Array<{ name: string; rules: Array<{ alert?: string; record?: string; expr: string }> }>;
  };
  const rules = alerts.groups.flatMap((g) => g.rules);

  it('has the alerts for backlog, failures, 429s and throughput', () => {
    const names = rules.map((r) => r.alert);
    for (const a of [
      'SluiceQueueBacklogGrowing',
      'SluiceJobsFailing',
      'SluiceEmbeddingRateLimited',
      'SluiceNoThroughput',
      'SluiceScheduleNotSucceeding',
      'SluiceIndexDrift',
    ]) {
      expect(names).toContain(a);
    }
  });

  it('refers only to registered metrics, labels and label values', () => {
    // `up` is written by Prometheus itself for every target.
    const prometheusOwn = { up: [] };
    const problems = rules.flatMap((r) => {
      const sels = selectors(r.expr);
      if (sels.length === 0) return [`${r.alert ?? r.record}: no metric found`];
      return sels.flatMap((s) => check(s, prometheusOwn).map((p) => `${r.alert ?? r.record}: ${p}`));
    });
    expect(problems).toEqual([]);
  });
});
