/**
 * A schedule's definition (docs/vocabulary.md, "schedule"): what to re-index
 * (sources, collection, sink, page limit) and when (a cron pattern with a
 * time zone, or a fixed period). Validated once, the same way for the CLI,
 * the TypeScript API and SCHEDULES_FILE: a bad cron pattern, duration or
 * sink names the input; a combination with no path (a URL into an OpenAI
 * vector store) is refused when the schedule is added, not at 3 a.m.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CronExpressionParser } from 'cron-parser';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { describeZodError } from '../errors/index.ts';
import { PermanentError } from '../errors/index.ts';
import { parseGoDuration } from '../openai/go-duration.ts';
import { CollectionNameSchema, type SchedulePayload, ScheduleNameSchema } from '../queue/contracts.ts';

/** The shortest period a schedule may have, ms: a tick is a job, not a busy loop. */
export const MIN_EVERY_MS = 1000;

/** Parses `6h`, `30m`, `2s`, `1h30m` (Go duration units). @throws PermanentError naming the input. */
export function parseEvery(input: string): number {
  let ms: number;
  try {
    ms = parseGoDuration(input);
  } catch {
    throw new PermanentError(
      `invalid duration "${input}": use a number and a unit (s, m, h), e.g. 30s, 15m, 6h or 1h30m; for days use a cron pattern`,
    );
  }
  if (!Number.isInteger(ms) || ms < MIN_EVERY_MS)
    throw new PermanentError(
      `invalid duration "${input}": a schedule repeats every whole millisecond count of at least 1s`,
    );
  return ms;
}

/** Checks a cron pattern (and time zone) as BullMQ will read it. @throws PermanentError naming the input. */
export function checkCron(pattern: string, tz?: string): void {
  if (tz !== undefined) {
    try {
      new Intl.DateTimeFormat('en', { timeZone: tz });
    } catch {
      throw new PermanentError(`invalid time zone "${tz}": use an IANA name such as Europe/Berlin or UTC`);
    }
  }
  try {
    CronExpressionParser.parse(pattern, { strict: false, ...(tz ? { tz } : {}) }).next();
  } catch (err) {
    throw new PermanentError(
      `invalid cron pattern "${pattern}": ${(err as Error).message} (five fields: minute hour day-of-month month day-of-week, e.g. "0 3 * * *")`,
    );
  }
}

const isUrl = (s: string) => /^https?:\/\//i.test(s);

/** A schedule as the CLI, the TypeScript API and SCHEDULES_FILE give it. */
export const ScheduleDefinitionSchema = z
  .object({
    name: ScheduleNameSchema,
    sources: z.array(z.string().min(1)).min(1, 'at least one source (URL, file or directory)'),
    collection: CollectionNameSchema,
    cron: z.string().min(1).optional(),
    tz: z.string().min(1).optional(),
    every: z.string().min(1).optional(),
    maxPages: z.number().int().min(1).optional(),
    sink: z.enum(['pgvector', 'openai', 'both']).optional(),
    allowMassDelete: z.boolean().default(false),
  })
  .strict()
  .superRefine((d, ctx) => {
    const fail = (pathName: string, message: string) => ctx.addIssue({ code: 'custom', path: [pathName], message });
    if ((d.cron === undefined) === (d.every === undefined)) fail('cron', 'give exactly one of cron and every');
    if (d.tz !== undefined && d.cron === undefined) fail('tz', 'a time zone applies to a cron pattern only');
    for (const [field, check] of [
      ['cron', () => d.cron !== undefined && checkCron(d.cron, d.tz)],
      ['every', () => d.every !== undefined && parseEvery(d.every)],
    ] as const) {
      try {
        check();
      } catch (err) {
        fail(field, (err as Error).message);
      }
    }
    const urls = d.sources.filter(isUrl);
    if (urls.length && d.sink !== undefined && d.sink !== 'pgvector')
      fail(
        'sink',
        `sink ${d.sink} needs local files, but ${urls[0]} is a URL: URLs are indexed into pgvector only (drop --sink or use --sink pgvector)`,
      );
    if (urls.length && urls.length < d.sources.length && d.sink !== undefined && d.sink !== 'pgvector')
      fail('sources', 'mix URLs and local paths only with sink pgvector');
  });
export type ScheduleDefinition = z.input<typeof ScheduleDefinitionSchema>;
export type ValidScheduleDefinition = z.output<typeof ScheduleDefinitionSchema>;

/**
 * Validates a definition.
 * @throws PermanentError naming the schedule and each bad field.
 */
export function validateSchedule(def: ScheduleDefinition): ValidScheduleDefinition {
  const parsed = ScheduleDefinitionSchema.safeParse(def);
  if (!parsed.success) {
    const name = typeof def?.name === 'string' ? `schedule "${def.name}"` : 'schedule';
    throw new PermanentError(`${name}: ${describeZodError(parsed.error)}`);
  }
  return parsed.data;
}

/** BullMQ's repeat options for a definition (docs/design.md, "Schedules"). */
export function repeatOptions(def: ValidScheduleDefinition): { pattern: string; tz?: string } | { every: number } {
  if (def.cron !== undefined) return { pattern: def.cron, ...(def.tz ? { tz: def.tz } : {}) };
  return { every: parseEvery(def.every as string) };
}

/**
 * The period of a schedule, seconds: `every`, or for a cron pattern the gap
 * between its next two fires after `now` (a nightly pattern: 86,400; a
 * pattern with uneven gaps reports the coming one).
 */
export function intervalSeconds(repeat: { pattern?: string; tz?: string; every?: number }, now = Date.now()): number {
  if (repeat.every) return repeat.every / 1000;
  const it = CronExpressionParser.parse(repeat.pattern as string, {
    currentDate: new Date(now),
    ...(repeat.tz ? { tz: repeat.tz } : {}),
  });
  const a = it.next().getTime();
  const b = it.next().getTime();
  return (b - a) / 1000;
}

/**
 * The tick payload a definition becomes: local sources made absolute (a
 * worker may run elsewhere in the tree), the sink defaulted to pgvector.
 */
export function schedulePayload(
  def: ValidScheduleDefinition,
  managedBy: 'file' | 'api',
  cwd = process.cwd(),
): SchedulePayload {
  return {
    schedule: def.name,
    collection: def.collection,
    // A local path travels as a file:// URL: a payload never turns a bare string into a path (docs/design.md, "Source roots").
    sources: def.sources.map((s) =>
      isUrl(s) || /^file:/i.test(s) || s.trimStart().startsWith('{') ? s : pathToFileURL(path.resolve(cwd, s)).href,
    ),
    sink: def.sink ?? 'pgvector',
    ...(def.maxPages !== undefined ? { maxPages: def.maxPages } : {}),
    allowMassDelete: def.allowMassDelete,
    managedBy,
  };
}

/**
 * Parses SCHEDULES_FILE (YAML or JSON; JSON is YAML): either a list of
 * definitions or `{ schedules: [...] }`.
 * @throws PermanentError naming the file, and for each bad entry its index, name and field.
 */
export function parseSchedulesFile(text: string, file: string): ValidScheduleDefinition[] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new PermanentError(`${file}: not valid YAML or JSON: ${(err as Error).message}`);
  }
  const list =
    doc === null || doc === undefined
      ? []
      : Array.isArray(doc)
        ? doc
        : typeof doc === 'object' && Array.isArray((doc as { schedules?: unknown }).schedules)
          ? (doc as { schedules: unknown[] }).schedules
          : undefined;
  if (!list) throw new PermanentError(`${file}: expected a list of schedules, or an object with a "schedules" list`);
  const problems: string[] = [];
  const out: ValidScheduleDefinition[] = [];
  const seen = new Set<string>();
  list.forEach((entry, i) => {
    const parsed = ScheduleDefinitionSchema.safeParse(entry);
    const name =
      entry && typeof entry === 'object' && typeof (entry as { name?: unknown }).name === 'string'
        ? ` ("${(entry as { name: string }).name}")`
        : '';
    if (!parsed.success) {
      problems.push(`entry ${i + 1}${name}: ${describeZodError(parsed.error)}`);
      return;
    }
    if (seen.has(parsed.data.name)) problems.push(`entry ${i + 1}${name}: the name is used by an earlier entry`);
    seen.add(parsed.data.name);
    out.push(parsed.data);
  });
  if (problems.length) throw new PermanentError(`${file}: ${problems.join('; ')}`);
  return out;
}
