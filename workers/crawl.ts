/** Worker process for the crawl queue. Drains on SIGTERM. */
import { runWorkerProcess } from '../src/runtime/worker-process.ts';

await runWorkerProcess(['crawl']);
