/** Worker process for the schedule queue (ticks of job schedulers). Drains on SIGTERM. */
import { runWorkerProcess } from '../src/runtime/worker-process.ts';

await runWorkerProcess(['schedule']);
