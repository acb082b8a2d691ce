/**
 * One typed map from queue name to processor, shared by every worker
 * process. A queue with no processor cannot be started: boot fails with a
 * message naming it instead of leaving its jobs to pile up unseen.
 */
import type { Job } from 'bullmq';
import { NoProcessorError } from '../src/errors/index.ts';
import type { Payloads, QueueName } from '../src/queue/contracts.ts';
import type { JobContext } from '../src/runtime/job-context.ts';
import { describeCrawlSource, processCrawl } from './crawl.ts';
import { processEmbed } from './embed.ts';
import { processUpload } from './upload.ts';
import { processAssociate } from './associate.ts';
import { processCleanup } from './cleanup.ts';
import { processSchedule } from './schedule.ts';

export interface ProcessorEntry<Q extends QueueName> {
  process: (job: Job, payload: Payloads[Q], ctx: JobContext) => Promise<unknown>;
  /** Names the source of a job in failure reports. */
  describe: (payload: Payloads[Q]) => string;
}

export type ProcessorRegistry = { [Q in QueueName]?: ProcessorEntry<Q> };

export const PROCESSORS: ProcessorRegistry = {
  crawl: { process: processCrawl, describe: describeCrawlSource },
  embed: { process: processEmbed, describe: (p) => p.source },
  upload: { process: processUpload, describe: (p) => p.source },
  associate: {
    process: processAssociate,
    describe: (p) => `fileset ${p.filesetHash.slice(0, 12)} (${p.files.length} files)`,
  },
  cleanup: {
    process: processCleanup,
    describe: (p) => `cleanup${p.dryRun ? ' (dry run)' : ''}${p.ttlDays ? `, TTL ${p.ttlDays} days` : ''}`,
  },
  schedule: { process: processSchedule, describe: (p) => `schedule ${p.schedule}` },
};

export function processorFor<Q extends QueueName>(queue: Q): ProcessorEntry<Q> {
  const entry = PROCESSORS[queue] as ProcessorEntry<Q> | undefined;
  if (!entry) {
    const have = Object.keys(PROCESSORS).join(', ');
    throw new NoProcessorError(`No processor is registered for queue "${queue}" in this version (available: ${have}).`);
  }
  return entry;
}
