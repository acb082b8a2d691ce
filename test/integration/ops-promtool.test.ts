/**
 * Prometheus' own checker on the files the stack mounts: the config, the
 * alerting rules (syntax and unit tests in alerts.test.yml), and every PromQL
 * query of the Grafana dashboard (as recording rules, so promtool parses them).
 *
 * Needs promtool (Debian package `prometheus`); fails with the install
 * command when it is missing rather than skipping, so CI cannot pass silently.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';

const root = path.resolve(import.meta.dirname, '../..');

function promtool(...args: string[]): { code: number | null; out: string } {
  const r = spawnSync('promtool', args, { cwd: root, encoding: 'utf8', timeout: 60_000 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error('promtool not found: install it with `apt-get install -y prometheus` (Debian package)');
  }
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('promtool', () => {
  it('accepts grafana/prometheus/prometheus.yml (and the rule file it loads)', () => {
    const r = promtool('check', 'config', 'grafana/prometheus/prometheus.yml');
    expect(r.out).toContain('SUCCESS');
    expect(r.code, r.out).toBe(0);
  });

  it('accepts grafana/prometheus/alerts.yml', () => {
    const r = promtool('check', 'rules', 'grafana/prometheus/alerts.yml');
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('passes the alert unit tests of grafana/prometheus/alerts.test.yml', () => {
    const r = promtool('test', 'rules', 'grafana/prometheus/alerts.test.yml');
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('SUCCESS');
  });

  it('parses every query of the Grafana dashboard', () => {
    interface Panel {
      id?: number;
      targets?: Array<{ refId?: string; expr?: string }>;
      panels?: Panel[];
    }
    const dashboard = JSON.parse(readFileSync(path.join(root, 'grafana/dashboards/sluice.json'), 'utf8')) as {
      panels: Panel[];
    };
    const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
    // Grafana's variables are not PromQL: give them values Prometheus accepts.
    const grafanaVars: Array<[RegExp, string]> = [
      [/\$__rate_interval|\$__interval/g, '1m'],
      [/\$__range/g, '6h'],
      [/\$(queue|model)\b/g, '.*'],
    ];
    const rules = panels.flatMap((p) =>
      (p.targets ?? []).map((t) => ({
        record: `dashboard:panel_${p.id}_${t.refId}`,
        expr: grafanaVars.reduce((e, [re, v]) => e.replace(re, v), t.expr ?? ''),
      })),
    );
    expect(rules.length).toBeGreaterThanOrEqual(20);
    const dir = mkdtempSync(path.join(tmpdir(), 'sluice-dashboard-'));
    try {
      const file = path.join(dir, 'dashboard-rules.yml');
      writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules }] }));
      const r = promtool('check', 'rules', file);
      expect(r.code, r.out).toBe(0);
      expect(r.out).toContain(`SUCCESS: ${rules.length} rules found`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
