/**
 * A text-pool thread entry for tests: a document whose text contains
 * `SPIN-FOREVER` keeps its thread busy until the pool stops it (a page that
 * would take hours, without waiting hours to build one); any other document
 * goes to the real worker.
 */
import run, { type PoolTask } from '../../src/textpool/worker.ts';

export const SPIN_MARKER = 'SPIN-FOREVER';

export default function slowRun(task: PoolTask): ReturnType<typeof run> {
  if (!task.document.text.includes(SPIN_MARKER)) return run(task);
  task.started.postMessage(null);
  task.started.close();
  // Busy, like a super-linear regex: no await, so only terminating the thread ends it.
  for (;;) {}
}
