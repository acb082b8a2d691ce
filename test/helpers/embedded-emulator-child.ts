/**
 * Serves (or joins) the embedded emulator of DATA_DIR the way a Sluice
 * process does (src/openai/emulator.ts `openEmbeddedEmulator`), prints its
 * URL and whether this process serves it, and keeps it until SIGTERM.
 * Spawned by tests that need another process to own the emulator.
 */
import { createLogger } from '../../src/log/logger.ts';
import { openEmbeddedEmulator } from '../../src/openai/emulator.ts';

const embedded = await openEmbeddedEmulator(process.env.DATA_DIR ?? '.data', createLogger('silent'));
process.stdout.write(`${JSON.stringify({ url: embedded.url(), owner: embedded.running() !== undefined })}\n`);
process.once('SIGTERM', () => {
  void embedded.close().then(() => process.exit(0));
});
setInterval(() => {}, 60_000);
