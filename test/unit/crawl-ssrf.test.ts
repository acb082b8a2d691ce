import { describe, expect, it } from 'vitest';
import { PermanentFetchError, SsrfRefusedError } from '../../src/errors/index.ts';
import { assertFetchAllowed, isPrivateAddress, nonPublicReason, normaliseHost } from '../../src/crawl/ssrf.ts';

describe('nonPublicReason', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['100.127.255.255', 'carrier-grade NAT'],
    ['0.0.0.0', 'unspecified ("this network")'],
    ['224.0.0.251', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'IPv4-embedded loopback'],
    ['::ffff:7f00:1', 'IPv4-embedded loopback'],
    ['::ffff:10.0.0.1', 'IPv4-embedded private'],
    ['::ffff:169.254.169.254', 'IPv4-embedded link-local'],
    ['::127.0.0.1', 'IPv4-embedded loopback'],
    ['64:ff9b::a00:1', 'NAT64-embedded private'],
    ['2002:c0a8:0101::1', '6to4-embedded private'],
    ['2001:db8::1', 'documentation'],
  ])('%s is not public (%s)', (ip, why) => {
    expect(nonPublicReason(ip)).toBe(why);
    expect(isPrivateAddress(ip)).toBe(true);
  });

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '172.32.0.1',
    '100.128.0.1',
    '192.169.0.1',
    '2606:4700:4700::1111',
    '::ffff:8.8.8.8',
    '2a00:1450:4001:80b::200e',
  ])('%s is public', (ip) => {
    expect(nonPublicReason(ip)).toBeNull();
  });

  it('garbage is not public', () => {
    expect(isPrivateAddress('not-an-ip')).toBe(true);
  });
});

describe('normaliseHost', () => {
  it('lowercases, strips brackets and a trailing dot', () => {
    expect(normaliseHost('[::1]')).toBe('::1');
    expect(normaliseHost('Example.COM.')).toBe('example.com');
  });
});

describe('assertFetchAllowed', () => {
  const strict = { allowPrivateNetworks: false, allowHosts: [] };

  it('refuses loopback and private literals, naming the URL and the cause', async () => {
    for (const url of [
      'http://127.0.0.1:8080/x',
      'http://[::1]/',
      'http://10.0.0.5/',
      'http://169.254.169.254/latest/meta-data/',
      'http://[::ffff:127.0.0.1]/',
    ]) {
      const err = await assertFetchAllowed(new URL(url), strict).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PermanentFetchError);
      expect((err as PermanentFetchError).reason).toBe('ssrf');
      expect((err as Error).message).toContain(new URL(url).href);
      expect((err as Error).message).toMatch(/refused by the SSRF guard: .* is not a public address/);
    }
  });

  it('resolves names: localhost is refused', async () => {
    const err = await assertFetchAllowed(new URL('http://localhost:9/'), strict).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentFetchError);
    expect((err as Error).message).toMatch(/localhost → (127\.0\.0\.1|::1) is not a public address \(loopback\)/);
  });

  it('allows a configured host, and everything with allowPrivateNetworks', async () => {
    await expect(
      assertFetchAllowed(new URL('http://127.0.0.1:8080/'), {
        allowPrivateNetworks: false,
        allowHosts: ['127.0.0.1'],
      }),
    ).resolves.toBeUndefined();
    await expect(
      assertFetchAllowed(new URL('http://[::1]:8080/'), {
        allowPrivateNetworks: false,
        allowHosts: ['[::1]'],
      }),
    ).resolves.toBeUndefined();
    await expect(
      assertFetchAllowed(new URL('http://LOCALHOST/'), {
        allowPrivateNetworks: false,
        allowHosts: ['localhost'],
      }),
    ).resolves.toBeUndefined();
    await expect(
      assertFetchAllowed(new URL('http://10.0.0.1/'), { allowPrivateNetworks: true, allowHosts: [] }),
    ).resolves.toBeUndefined();
  });

  it('an allowed host does not make other private hosts allowed', async () => {
    const opts = { allowPrivateNetworks: false, allowHosts: ['127.0.0.1'] };
    await expect(assertFetchAllowed(new URL('http://127.0.0.2/'), opts)).rejects.toBeInstanceOf(PermanentFetchError);
  });

  it('refuses non-http schemes', async () => {
    const err = await assertFetchAllowed(new URL('file:///etc/passwd'), {
      allowPrivateNetworks: true,
      allowHosts: [],
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentFetchError);
    expect((err as Error).message).toMatch(/file:\/\/\/etc\/passwd: scheme file is not supported/);
  });

  it('allows addresses in a configured network (CRAWL_ALLOW_HOSTS CIDR), and only those', async () => {
    const opts = {
      allowPrivateNetworks: false,
      allowNetworks: [
        { address: '10.1.0.0', prefix: 16, family: 'ipv4' as const },
        { address: 'fd00::', prefix: 8, family: 'ipv6' as const },
      ],
    };
    await expect(assertFetchAllowed(new URL('http://10.1.200.3/'), opts)).resolves.toBeUndefined();
    await expect(assertFetchAllowed(new URL('http://[fd12::1]/'), opts)).resolves.toBeUndefined();
    const err = await assertFetchAllowed(new URL('http://10.2.0.1/'), opts).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SsrfRefusedError);
    expect((err as Error).message).toMatch(/CRAWL_ALLOW_HOSTS/);
  });
});
