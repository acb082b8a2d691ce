/**
 * SSRF guard: before every request (and every redirect hop) the host is
 * resolved and the request is refused when any of its addresses is not a
 * public unicast address — loopback, private (RFC 1918), link-local (incl.
 * cloud metadata 169.254.169.254), unique-local, CGNAT, multicast,
 * unspecified, reserved/documentation ranges, and IPv6 forms that embed such
 * an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4).
 *
 * Exceptions: `allowPrivateNetworks` turns the check off; a host in
 * `trustedHosts` (named explicitly by the producer, e.g. a source
 * http://127.0.0.1:8080/) is always allowed — but only that host: a redirect
 * or link to another private host is still refused.
 *
 * Known limit: the check resolves the name, then fetch resolves it again, so
 * a DNS server that answers differently the second time (DNS rebinding) can
 * slip past. Closing that needs a connect-time lookup hook (undici's Agent
 * `connect.lookup`), which global fetch does not expose without the undici
 * package.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { PermanentFetchError, TransientFetchError } from '../errors/index.ts';

export interface SsrfOptions {
  allowPrivateNetworks: boolean;
  /** Hosts named explicitly by the producer: always allowed. */
  trustedHosts: ReadonlySet<string>;
}

/** Lowercase, no IPv6 brackets, no trailing dot. */
export function normaliseHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

function ipv4ToInt(ip: string): number | null {
  const parts = ip.split('.');
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return null;
    const v = Number(p);
    if (v > 255) return null;
    n = n * 256 + v;
  }
  return n;
}

const V4_BLOCKED: ReadonlyArray<readonly [string, number, string]> = [
  ['0.0.0.0', 8, 'unspecified ("this network")'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'carrier-grade NAT'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'IETF protocol assignments'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
];

function classifyV4(n: number): string | null {
  for (const [base, bits, label] of V4_BLOCKED) {
    const b = ipv4ToInt(base)!;
    const size = 2 ** (32 - bits);
    if (n >= b && n < b + size) return label;
  }
  return null;
}

/** Parses an IPv6 address (zone id ignored) into 8 16-bit groups. */
function parseIPv6(ip: string): number[] | null {
  let s = ip.split('%')[0]!;
  const groups: number[] = [];
  // Embedded dotted IPv4 tail (after the last colon).
  const tailStart = s.lastIndexOf(':') + 1;
  const dotted = /^\d+\.\d+\.\d+\.\d+$/.test(s.slice(tailStart));
  let tail: number[] = [];
  if (dotted) {
    const n = ipv4ToInt(s.slice(tailStart));
    if (n === null) return null;
    tail = [Math.floor(n / 65536), n % 65536];
    s = s.slice(0, tailStart);
    if (s.endsWith(':') && !s.endsWith('::')) s = s.slice(0, -1);
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const parse = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (!/^[0-9a-f]{1,4}$/i.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  if (!head || !rest) return null;
  const total = head.length + rest.length + tail.length;
  if (halves.length === 2) {
    if (total > 7) return null;
    groups.push(...head, ...new Array<number>(8 - total).fill(0), ...rest, ...tail);
  } else {
    if (total !== 8) return null;
    groups.push(...head, ...tail);
  }
  return groups;
}

function classifyV6(g: number[]): string | null {
  const [a = 0, b = 0, c = 0, d = 0, e = 0, f = 0, h = 0, i = 0] = g;
  const v4 = (hi: number, lo: number): number => hi * 65536 + lo;
  const allZero = (xs: number[]): boolean => xs.every((x) => x === 0);
  if (allZero(g)) return 'unspecified';
  if (allZero([a, b, c, d, e, f, h]) && i === 1) return 'loopback';
  // IPv4-mapped ::ffff:a.b.c.d and IPv4-compatible ::a.b.c.d
  if (allZero([a, b, c, d, e]) && (f === 0xffff || f === 0)) {
    const inner = classifyV4(v4(h, i));
    return inner ? `IPv4-embedded ${inner}` : null;
  }
  // NAT64 64:ff9b::/96
  if (a === 0x64 && b === 0xff9b && allZero([c, d, e, f])) {
    const inner = classifyV4(v4(h, i));
    return inner ? `NAT64-embedded ${inner}` : null;
  }
  // 6to4 2002:AABB:CCDD::/48
  if (a === 0x2002) {
    const inner = classifyV4(v4(b, c));
    return inner ? `6to4-embedded ${inner}` : null;
  }
  if (a === 0x0100 && allZero([b, c, d])) return 'discard-only';
  if (a === 0x2001 && b === 0x0db8) return 'documentation';
  if ((a & 0xfe00) === 0xfc00) return 'unique-local';
  if ((a & 0xffc0) === 0xfe80) return 'link-local';
  if ((a & 0xffc0) === 0xfec0) return 'site-local';
  if ((a & 0xff00) === 0xff00) return 'multicast';
  return null;
}

/**
 * Why an IP address is not a public unicast address ("loopback",
 * "private", …), or null when it is public. Unparseable input counts as
 * not public.
 */
export function nonPublicReason(ip: string): string | null {
  const family = isIP(ip.split('%')[0]!);
  if (family === 4) return classifyV4(ipv4ToInt(ip)!);
  if (family === 6) {
    const g = parseIPv6(ip);
    return g ? classifyV6(g) : 'unparseable';
  }
  return 'not an IP address';
}

export function isPrivateAddress(ip: string): boolean {
  return nonPublicReason(ip) !== null;
}

const FIX = 'if this host is meant to be crawled, name it as a source (trusted host) or set allowPrivateNetworks';

/**
 * Throws unless the URL is http(s) and its host may be fetched. `method`
 * only labels the message ("GET http://…: …").
 */
export async function assertFetchAllowed(url: URL, opts: SsrfOptions, method = 'GET'): Promise<void> {
  const label = `${method} ${url.href}`;
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new PermanentFetchError(
      url.href,
      `${label}: scheme ${url.protocol.replace(/:$/, '')} is not supported (only http and https can be fetched)`,
      { reason: 'bad-url' },
    );
  }
  if (opts.allowPrivateNetworks) return;
  const host = normaliseHost(url.hostname);
  for (const t of opts.trustedHosts) if (normaliseHost(t) === host) return;

  let addresses: string[];
  if (isIP(host)) {
    addresses = [host];
  } else {
    try {
      addresses = (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ENOTFOUND' || code === 'ENODATA') {
        throw new PermanentFetchError(
          url.href,
          `${label}: host ${host} was not found in DNS (${code}); check the spelling of the URL`,
          { reason: 'dns', cause: err },
        );
      }
      throw new TransientFetchError(
        url.href,
        `${label}: DNS lookup of ${host} failed temporarily (${code ?? String(err)})`,
        { reason: 'dns', cause: err },
      );
    }
  }
  for (const address of addresses) {
    const why = nonPublicReason(address);
    if (why) {
      const shown = address === host ? address : `${host} → ${address}`;
      throw new PermanentFetchError(
        url.href,
        `${label}: refused by the SSRF guard: ${shown} is not a public address (${why}); ${FIX}`,
        { reason: 'ssrf' },
      );
    }
  }
}
