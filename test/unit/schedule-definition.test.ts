/** The schedule definition: what the CLI, the TypeScript API and SCHEDULES_FILE accept and refuse. */
import { describe, expect, it } from 'vitest';
import {
  intervalSeconds,
  parseEvery,
  parseSchedulesFile,
  repeatOptions,
  schedulePayload,
  validateSchedule,
} from '../../src/schedule/definition.ts';

const base = { name: 'nightly', sources: ['https://docs.example.com/'], collection: 'docs' };

describe('schedule definitions', () => {
  it('accepts a cron pattern with a time zone, or a period', () => {
    const cron = validateSchedule({ ...base, cron: '0 3 * * *', tz: 'Europe/Berlin' });
    expect(repeatOptions(cron)).toEqual({ pattern: '0 3 * * *', tz: 'Europe/Berlin' });
    expect(repeatOptions(validateSchedule({ ...base, every: '6h' }))).toEqual({ every: 21_600_000 });
    expect(validateSchedule({ ...base, every: '2s' }).allowMassDelete).toBe(false);
  });

  it('refuses a bad cron pattern, naming it', () => {
    expect(() => validateSchedule({ ...base, cron: '61 * * * *' })).toThrow(
      /schedule "nightly": cron: invalid cron pattern "61 \* \* \* \*"/,
    );
    expect(() => validateSchedule({ ...base, cron: 'every night' })).toThrow(/invalid cron pattern "every night"/);
    expect(() => validateSchedule({ ...base, cron: '0 3 * * *', tz: 'Mars/Olympus' })).toThrow(
      /invalid time zone "Mars\/Olympus"/,
    );
  });

  it('refuses a bad duration, naming it', () => {
    expect(() => validateSchedule({ ...base, every: '6d' })).toThrow(/every: invalid duration "6d"/);
    expect(() => validateSchedule({ ...base, every: 'soon' })).toThrow(/invalid duration "soon"/);
    expect(() => validateSchedule({ ...base, every: '10ms' })).toThrow(/at least 1s/);
    expect(parseEvery('1h30m')).toBe(5_400_000);
    expect(parseEvery('30m')).toBe(1_800_000);
  });

  it('needs exactly one of cron and every', () => {
    expect(() => validateSchedule({ ...base })).toThrow(/exactly one of cron and every/);
    expect(() => validateSchedule({ ...base, cron: '0 3 * * *', every: '6h' })).toThrow(/exactly one/);
    expect(() => validateSchedule({ ...base, every: '6h', tz: 'UTC' })).toThrow(/tz: a time zone applies to a cron/);
  });

  it('refuses a URL into an OpenAI vector store (a combination with no path)', () => {
    expect(() => validateSchedule({ ...base, every: '6h', sink: 'openai' })).toThrow(
      /sink: sink openai needs local files, but https:\/\/docs\.example\.com\/ is a URL/,
    );
    expect(() => validateSchedule({ ...base, every: '6h', sink: 'both' })).toThrow(/sink both needs local files/);
    expect(validateSchedule({ ...base, every: '6h', sink: 'pgvector' }).sink).toBe('pgvector');
    expect(validateSchedule({ ...base, sources: ['./docs'], every: '6h', sink: 'openai' }).sink).toBe('openai');
  });

  it('makes local paths absolute file:// URLs (a payload never holds a bare path) and defaults the sink to pgvector', () => {
    const p = schedulePayload(
      validateSchedule({ ...base, sources: ['docs', base.sources[0]!], every: '1h' }),
      'file',
      '/srv',
    );
    expect(p).toMatchObject({
      sources: ['file:///srv/docs', 'https://docs.example.com/'],
      sink: 'pgvector',
      managedBy: 'file',
    });
  });

  it('reports the interval of a cron pattern as the gap between its next two fires', () => {
    expect(intervalSeconds({ pattern: '0 3 * * *', tz: 'Europe/Berlin' }, Date.UTC(2025, 5, 1))).toBe(86_400);
    expect(intervalSeconds({ pattern: '*/15 * * * *' })).toBe(900);
    expect(intervalSeconds({ every: 2000 })).toBe(2);
  });
});

describe('SCHEDULES_FILE', () => {
  it('reads YAML and JSON, as a list or under "schedules"', () => {
    const yaml = `schedules:\n  - name: nightly\n    sources: [https://docs.example.com/]\n    collection: docs\n    cron: "0 3 * * *"\n    tz: Europe/Berlin\n`;
    expect(parseSchedulesFile(yaml, 's.yml').map((d) => d.name)).toEqual(['nightly']);
    const json = JSON.stringify([{ ...base, every: '6h', allowMassDelete: true }]);
    expect(parseSchedulesFile(json, 's.json')[0]).toMatchObject({ name: 'nightly', allowMassDelete: true });
    expect(parseSchedulesFile('', 'empty.yml')).toEqual([]);
  });

  it('names the file, each bad entry and its field', () => {
    const text = JSON.stringify([
      { ...base, every: '6h' },
      { ...base, name: 'hourly', cron: 'bad' },
      { ...base, name: 'push', every: '1h', sink: 'openai' },
      { name: 'nameless-fields', every: '1h' },
      { ...base, every: '6h', colection: 'typo' },
    ]);
    let message = '';
    try {
      parseSchedulesFile(text, '/etc/sluice/schedules.json');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^\/etc\/sluice\/schedules\.json: /);
    expect(message).toMatch(/entry 2 \("hourly"\): cron: invalid cron pattern "bad"/);
    expect(message).toMatch(/entry 3 \("push"\): sink: sink openai needs local files/);
    expect(message).toMatch(/entry 4 \("nameless-fields"\): sources: .*collection: /);
    expect(message).toMatch(/entry 5 \("nightly"\): .*colection/);
    expect(message).not.toMatch(/entry 1/);
  });

  it('refuses a file that is not a list, and duplicate names', () => {
    expect(() => parseSchedulesFile('a: 1', 'x.yml')).toThrow(/x\.yml: expected a list of schedules/);
    expect(() => parseSchedulesFile('[', 'x.yml')).toThrow(/x\.yml: not valid YAML or JSON/);
    const dup = JSON.stringify([
      { ...base, every: '6h' },
      { ...base, every: '1h' },
    ]);
    expect(() => parseSchedulesFile(dup, 'x.json')).toThrow(
      /entry 2 \("nightly"\): the name is used by an earlier entry/,
    );
  });
});
