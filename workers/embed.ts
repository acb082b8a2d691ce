/** Worker process for the embed queue. Drains on SIGTERM. */
import { runWorkerProcess } from '../src/runtime/worker-process.ts';

await runWorkerProcess(['embed']);
