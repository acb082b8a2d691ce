/**
 * Starts and stops the chaos run's emulator process ({@link ./emulator-child.ts})
 * and reads its stats over HTTP (`GET /_emulator/stats`).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { EmulatorStats } from '@sluice/openai-emulator';

export interface EmulatorProcess {
  /** Base URL for the SDK, `http://127.0.0.1:<port>/v1`. */
  url: string;
  stats(): Promise<EmulatorStats>;
  close(): Promise<void>;
}

/**
 * @param env `EMULATOR_*` settings (e.g. `EMULATOR_TPM`, `EMULATOR_ERROR_RATE`)
 * @throws when the process exits or prints nothing within 30 s
 */
export async function startEmulatorProcess(env: Record<string, string>): Promise<EmulatorProcess> {
  const child = spawn(process.execPath, [path.join(import.meta.dirname, 'emulator-child.ts')], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`emulator process printed no URL in 30 s:\n${stderr}`)), 30_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { url: string }).url);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`emulator process exited (${code}):\n${stderr}`));
    });
  });
  const admin = new URL('/_emulator/stats', url);
  return {
    url,
    async stats() {
      const res = await fetch(admin, { signal: AbortSignal.timeout(10_000) });
      return (await res.json()) as EmulatorStats;
    },
    async close() {
      if (child.exitCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    },
  };
}
