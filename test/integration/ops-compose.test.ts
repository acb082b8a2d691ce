/**
 * docker-compose.yml against the rest of the repository: the services the
 * stack needs, their wiring (health-gated start order, the metrics port that
 * Prometheus scrapes, the files mounted into Prometheus and Grafana), and the
 * inline Dockerfile's COPY sources. When `docker compose` is installed, its
 * own validation (`docker compose config`) runs too.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

const root = path.resolve(import.meta.dirname, '../..');
const read = (p: string) => readFileSync(path.join(root, p), 'utf8');

interface Service {
  image?: string;
  build?: { context?: string; dockerfile?: string; dockerfile_inline?: string };
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  env_file?: Array<string | { path: string; required?: boolean }>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  expose?: string[];
  ports?: string[];
  volumes?: string[];
  profiles?: string[];
  restart?: string;
}
// `merge: true`: the file shares service settings through YAML merge keys (<<).
const compose = parseYaml(read('docker-compose.yml'), { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const services = compose.services;
const svc = (name: string): Service => {
  const s = services[name];
  if (!s) throw new Error(`docker-compose.yml has no service ${name}`);
  return s;
};

const WORKERS: Record<string, string[]> = {
  'worker-crawl': ['crawl'],
  'worker-embed': ['embed'],
  'worker-upload': ['upload', 'associate'],
  'worker-cleanup': ['cleanup'],
  'worker-schedule': ['schedule'],
};
const APP_SERVICES = ['migrate', ...Object.keys(WORKERS)];

describe('docker-compose.yml', () => {
  it('has the whole stack', () => {
    for (const name of ['redis', 'postgres', 'migrate', ...Object.keys(WORKERS), 'prometheus', 'grafana']) {
      expect(Object.keys(services)).toContain(name);
    }
  });

  it('runs Redis for BullMQ: append-only, noeviction, health-checked, on a volume', () => {
    const redis = svc('redis');
    expect(redis.image).toMatch(/^redis:7/);
    expect(redis.command?.join(' ')).toContain('--appendonly yes');
    expect(redis.command?.join(' ')).toContain('--maxmemory-policy noeviction');
    // A password, required (no default): whoever writes a job chooses what is fetched (SECURITY.md).
    expect(redis.command?.join(' ')).toContain('--requirepass ${REDIS_PASSWORD:?');
    expect(redis.environment?.REDISCLI_AUTH).toMatch(/^\$\{REDIS_PASSWORD:\?.+\}$/);
    expect(redis.healthcheck?.test.join(' ')).toContain('redis-cli');
    expect(redis.volumes?.some((v) => v.endsWith(':/data'))).toBe(true);
  });

  it('runs Postgres with pgvector, health-checked, on a volume', () => {
    const pg = svc('postgres');
    expect(pg.image).toBe('pgvector/pgvector:pg17');
    expect(pg.healthcheck?.test.join(' ')).toContain('pg_isready');
    expect(pg.volumes?.some((v) => v.endsWith(':/var/lib/postgresql/data'))).toBe(true);
  });

  it('builds the app from an inline Dockerfile whose COPY sources exist', () => {
    for (const name of APP_SERVICES) {
      const build = svc(name).build;
      expect(build?.dockerfile, `${name} must not use a Dockerfile file`).toBeUndefined();
      const df = build?.dockerfile_inline ?? '';
      expect(df).toMatch(/^FROM node:24-bookworm-slim$/m);
      expect(df).toMatch(/npm ci --omit=dev/);
      const sources = [...df.matchAll(/^COPY\s+(.+?)\s+\S+$/gm)].flatMap((m) => (m[1] ?? '').split(/\s+/));
      expect(sources.length).toBeGreaterThan(0);
      for (const src of sources)
        expect(existsSync(path.join(root, build?.context ?? '.', src)), `COPY ${src}`).toBe(true);
    }
  });

  it('gives every app service the connection settings, with OPENAI_API_KEY and REDIS_PASSWORD required', () => {
    for (const name of APP_SERVICES) {
      const env = svc(name).environment ?? {};
      expect(env.REDIS_URL, name).toMatch(/^redis:\/\/:\$\{REDIS_PASSWORD:\?[^}]+\}@redis:6379$/);
      expect(env.DATABASE_URL, name).toMatch(/^postgres:\/\/[^@]+@postgres:5432\//);
      expect(env.OPENAI_API_KEY, name).toMatch(/^\$\{OPENAI_API_KEY:\?.+\}$/);
      expect(svc(name).env_file, name).toContainEqual({ path: '.env', required: false });
    }
  });

  it('migrates once, after Redis and Postgres are healthy', () => {
    const migrate = svc('migrate');
    expect(migrate.command).toEqual(['node', 'src/cli/sluice.ts', 'migrate']);
    expect(migrate.depends_on).toEqual({
      redis: { condition: 'service_healthy' },
      postgres: { condition: 'service_healthy' },
    });
    expect(migrate.restart).toBe('no');
  });

  it('starts each worker after the migration, consuming its queues and exposing metrics on 9464', () => {
    const consumed = new Set<string>();
    for (const [name, queues] of Object.entries(WORKERS)) {
      const w = svc(name);
      expect(w.command).toEqual(['node', 'src/cli/sluice.ts', 'worker', ...queues]);
      for (const q of queues) consumed.add(q);
      expect(w.depends_on?.migrate).toEqual({ condition: 'service_completed_successfully' });
      expect(w.environment?.METRICS_PORT).toBe('9464');
      // The server binds 127.0.0.1 unless told: Prometheus is another container.
      expect(w.environment?.METRICS_HOST).toBe('0.0.0.0');
      expect(w.expose).toContain('9464');
      expect(w.healthcheck?.test.join(' ')).toContain('127.0.0.1:9464/healthz');
    }
    expect([...consumed].sort()).toEqual(['associate', 'cleanup', 'crawl', 'embed', 'schedule', 'upload']);
  });

  it('lets Prometheus scrape exactly the worker services on the metrics port', () => {
    const prom = parseYaml(read('grafana/prometheus/prometheus.yml')) as {
      rule_files: string[];
      scrape_configs: Array<{ job_name: string; dns_sd_configs?: Array<{ names: string[]; port: number }> }>;
    };
    const job = prom.scrape_configs.find((j) => j.job_name === 'sluice-workers');
    const sd = job?.dns_sd_configs?.[0];
    expect(sd?.names.slice().sort()).toEqual(Object.keys(WORKERS).sort());
    expect(String(sd?.port)).toBe(svc('worker-embed').environment?.METRICS_PORT);
    expect(prom.rule_files).toEqual(['alerts.yml']);
  });

  it('mounts the Prometheus and Grafana files from grafana/ where their configs expect them', () => {
    const mounts = (name: string) =>
      new Map(
        (svc(name).volumes ?? [])
          .filter((v) => v.startsWith('./'))
          .map((v) => {
            const [host, container] = v.split(':');
            return [host ?? '', container ?? ''] as const;
          }),
      );
    const prom = mounts('prometheus');
    expect(prom.get('./grafana/prometheus')).toBe('/etc/prometheus');
    expect(svc('prometheus').command).toContain('--config.file=/etc/prometheus/prometheus.yml');

    const graf = mounts('grafana');
    expect(graf.get('./grafana/provisioning')).toBe('/etc/grafana/provisioning');
    const provider = parseYaml(read('grafana/provisioning/dashboards/sluice.yml')) as {
      providers: Array<{ type: string; options: { path: string } }>;
    };
    expect(graf.get('./grafana/dashboards')).toBe(provider.providers[0]?.options.path);
    for (const host of [...prom.keys(), ...graf.keys()]) expect(existsSync(path.join(root, host)), host).toBe(true);

    // The datasource points at the prometheus service.
    const ds = parseYaml(read('grafana/provisioning/datasources/prometheus.yml')) as {
      datasources: Array<{ uid: string; url: string }>;
    };
    expect(ds.datasources[0]?.url).toBe('http://prometheus:9090');
  });

  it('declares every named volume it uses', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const v of s.volumes ?? []) {
        const source = v.split(':')[0] ?? '';
        if (source.startsWith('.') || source.startsWith('/')) continue;
        expect(Object.keys(compose.volumes), `${name}: volume ${source}`).toContain(source);
      }
    }
  });

  // The docker CLI may come without its compose plugin (as on the dev machines).
  const hasCompose = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' }).status === 0;
  it.skipIf(!hasCompose)('passes `docker compose config` (needs the docker compose plugin)', () => {
    const r = spawnSync('docker', ['compose', '-f', 'docker-compose.yml', 'config', '--quiet'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, OPENAI_API_KEY: 'sk-test', REDIS_PASSWORD: 'test-password' },
    });
    expect(r.status, r.stderr).toBe(0);
  });
});
