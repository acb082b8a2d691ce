/** Worker process for the upload queue. Drains on SIGTERM. */
import { runWorkerProcess } from '../src/runtime/worker-process.ts';

await runWorkerProcess(['upload']);
