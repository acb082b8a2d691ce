/**
 * A minimal program on Sluice's TypeScript API (through the package entry,
 * `sluice`, as a user would import it): opens the runtime from the
 * environment, prints where embeddings go, closes. Spawned by tests.
 */
import { createLogger, loadConfig, openRuntime } from 'sluice';

const config = loadConfig();
const rt = await openRuntime(config, createLogger('silent'), { role: 'test-child' });
process.stdout.write(`${rt.openaiTarget}\n`);
await rt.close();
