/**
 * The emulator in a process of its own for the chaos run (so SIGKILLs and
 * CPU load of the workers never touch it): settings from `EMULATOR_*`
 * variables, any free loopback port; prints `{"url": …}` on one stdout line
 * once it listens, and closes on SIGTERM.
 */
import { emulatorSettingsFromEnv, startEmulator } from '@sluice/openai-emulator';

const emulator = await startEmulator(emulatorSettingsFromEnv(process.env));
process.stdout.write(`${JSON.stringify({ url: emulator.url })}\n`);
process.once('SIGTERM', () => {
  void emulator.close().then(() => process.exit(0));
});
