/** Worker process for every queue that has a processor, in one process. Drains on SIGTERM. */
import { runWorkerProcess } from '../src/runtime/worker-process.ts';

await runWorkerProcess(['all']);
