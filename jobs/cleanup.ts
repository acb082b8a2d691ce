/**
 * The cleanup processor: one TTL cleanup run
 * (docs/design.md, "TTL cleanup"), from the cleanup queue's job scheduler
 * (CLEANUP_CRON) or an enqueued job. `sluice cleanup` runs the same function in the CLI process.
 * TTLs are measured from the injected clock (`ctx.clock`).
 */
import type { Job } from 'bullmq';
import { type CleanupReport, runCleanup } from '../src/cleanup/cleanup.ts';
import type { CleanupPayload } from '../src/queue/contracts.ts';
import type { JobContext } from '../src/runtime/job-context.ts';

export async function processCleanup(job: Job, p: CleanupPayload, ctx: JobContext): Promise<CleanupReport> {
  return runCleanup(ctx, {
    dryRun: p.dryRun,
    owner: `cleanup-${job.id}`,
    ...(p.ttlDays !== undefined ? { ttlDays: p.ttlDays } : {}),
  });
}
