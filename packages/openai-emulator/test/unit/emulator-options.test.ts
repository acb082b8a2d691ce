import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, emulatorSettingsFromEnv, mergeSettings, SettingsError } from '../../src/options.ts';

describe('emulatorSettingsFromEnv', () => {
  it('returns nothing for an empty environment (defaults apply)', () => {
    expect(emulatorSettingsFromEnv({})).toEqual({});
    expect(emulatorSettingsFromEnv({ EMULATOR_RPM: '  ' })).toEqual({});
  });

  it('reads every documented variable', () => {
    expect(
      emulatorSettingsFromEnv({
        EMULATOR_RPM: '60',
        EMULATOR_TPM: '5000',
        EMULATOR_WINDOW_MS: '2000',
        EMULATOR_LATENCY_MS: '300',
        EMULATOR_LATENCY_PER_TOKEN_MS: '0.01',
        EMULATOR_ERROR_RATE: '0.1',
        EMULATOR_DROP_RATE: '0.05',
        EMULATOR_SLOW_RATE: '0.02',
        EMULATOR_SLOW_MS: '15000',
        EMULATOR_INSUFFICIENT_QUOTA: 'yes',
        EMULATOR_SEED: '42',
        EMULATOR_SEND_RETRY_AFTER_MS: 'true',
        EMULATOR_API_KEY: 'sk-test',
        UNRELATED: 'x',
      }),
    ).toEqual({
      rpm: 60,
      tpm: 5000,
      windowMs: 2000,
      latencyMs: 300,
      latencyPerTokenMs: 0.01,
      errorRate: 0.1,
      dropRate: 0.05,
      slowRate: 0.02,
      slowMs: 15000,
      insufficientQuota: true,
      seed: 42,
      sendRetryAfterMs: true,
      apiKey: 'sk-test',
    });
  });

  it.each([
    [{ EMULATOR_RPM: 'lots' }, /EMULATOR_RPM/],
    [{ EMULATOR_RPM: '1.5' }, /EMULATOR_RPM/],
    [{ EMULATOR_INSUFFICIENT_QUOTA: 'maybe' }, /EMULATOR_INSUFFICIENT_QUOTA/],
    [{ EMULATOR_TPM: '0' }, /EMULATOR_TPM/],
    [{ EMULATOR_ERROR_RATE: '1.5' }, /EMULATOR_ERROR_RATE/],
    [{ EMULATOR_ERROR_RATE: '0.6', EMULATOR_DROP_RATE: '0.6' }, /> 1/],
  ])('rejects %j naming the variable', (env, pattern) => {
    expect(() => emulatorSettingsFromEnv(env)).toThrow(SettingsError);
    expect(() => emulatorSettingsFromEnv(env)).toThrow(pattern);
  });
});

describe('mergeSettings', () => {
  it('applies a patch over the defaults', () => {
    const s = mergeSettings(DEFAULT_SETTINGS, { tpm: 10, apiKey: 'k' });
    expect(s).toEqual({ ...DEFAULT_SETTINGS, tpm: 10, apiKey: 'k' });
  });

  it.each([[{ rpm: 0 }], [{ nope: 1 }], [{ seed: 'x' }], [{ slowRate: -1 }], ['not an object']])(
    'rejects %j',
    (patch) => {
      expect(() => mergeSettings(DEFAULT_SETTINGS, patch)).toThrow(SettingsError);
    },
  );
});
