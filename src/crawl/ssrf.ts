/**
 * SSRF guard: a crawl request is refused when its host resolves — or its
 * socket actually connects — to an address that is not public unicast:
 * loopback, private (RFC 1918), link-local (incl. cloud metadata
 * 169.254.169.254), unique-local, CGNAT, multicast, unspecified,
 * reserved/documentation ranges, and IPv6 forms that embed such an IPv4
 * address (IPv4-mapped, IPv4-compatible, NAT64, 6to4).
 *
 * The check that counts happens at connect time, on every connection of
 * every hop, for every host: crawl fetches go through an undici Agent whose
 * `connect.lookup` resolves and checks the name (the addresses checked are
 * the ones connected to, so a DNS answer that changes between a check and
 * the connect — DNS rebinding — cannot slip past), and whose connector
 * checks the socket's remote address once more (IP literals never reach a
 * lookup). {@link assertFetchAllowed} runs the same policy before a request
 * for an early, plain error.
 *
 * What is allowed comes from configuration only (`CRAWL_ALLOW_HOSTS`: host
 * names allowed whatever they resolve to, IP addresses and CIDR networks;
 * `CRAWL_ALLOW_PRIVATE_NETWORKS` turns the check off), plus the hosts of
 * URLs the CLI operator names — never from a job payload. Resolution uses
 * the system resolver, or `CRAWL_DNS_SERVERS` (`dns.Resolver#setServers`).
 */
import { lookup as systemLookup } from 'node:dns/promises';
import { Resolver } from 'node:dns/promises';
import { BlockList, isIP, type LookupFunction, type Socket } from 'node:net';
import { Agent, buildConnector } from 'undici';
import type { AllowedNetwork } from '../config/config.ts';
import { PermanentFetchError, SsrfRefusedError, TransientFetchError } from '../errors/index.ts';

/** What the SSRF guard allows (docs/design.md, "SSRF guard"). */
export interface SsrfOptions {
  /** `CRAWL_ALLOW_PRIVATE_NETWORKS`: no address check at all. */
  allowPrivateNetworks: boolean;
  /** Host names allowed whatever they resolve to (`CRAWL_ALLOW_HOSTS`, the CLI operator's URLs). */
  allowHosts?: readonly string[] | undefined;
  /** Addresses and networks allowed for any host (`CRAWL_ALLOW_HOSTS` IPs and CIDRs). */
  allowNetworks?: readonly AllowedNetwork[] | undefined;
  /** DNS servers to resolve with (`CRAWL_DNS_SERVERS`, `ip[:port]`); empty = the system resolver. */
  dnsServers?: readonly string[] | undefined;
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

const FIX =
  'if this host is meant to be crawled, add it (or its network, as a CIDR) to CRAWL_ALLOW_HOSTS, or set CRAWL_ALLOW_PRIVATE_NETWORKS=true';

/** Deadline of one DNS query to a configured server, ms, and its tries: a lookup never waits forever. */
const DNS_TIMEOUT_MS = 5000;
const DNS_TRIES = 2;

/**
 * One SSRF policy: the allow-lists, a resolver and the undici Agent whose
 * connections it checks. Built once per distinct options (see {@link policyFor}).
 */
export class AddressPolicy {
  readonly allowPrivateNetworks: boolean;
  private readonly hosts: ReadonlySet<string>;
  private readonly networks = new BlockList();
  private readonly resolver: Resolver | undefined;
  /** The undici dispatcher crawl fetches use: every connection it opens is checked. */
  readonly dispatcher: Agent;

  constructor(opts: SsrfOptions) {
    this.allowPrivateNetworks = opts.allowPrivateNetworks;
    this.hosts = new Set((opts.allowHosts ?? []).map(normaliseHost));
    for (const n of opts.allowNetworks ?? []) this.networks.addSubnet(n.address, n.prefix, n.family);
    if (opts.dnsServers?.length) {
      this.resolver = new Resolver({ timeout: DNS_TIMEOUT_MS, tries: DNS_TRIES });
      this.resolver.setServers([...opts.dnsServers]);
    }
    // net.connect / tls.connect resolve a host name through the guard's lookup.
    const connect = buildConnector({ lookup: this.lookup } as buildConnector.BuildOptions);
    this.dispatcher = new Agent({
      connect: (options, callback) => {
        connect(options, (err, socket) => {
          if (err || !socket) {
            callback(err ?? new Error('no socket'), null);
            return;
          }
          // The socket actually connected: check its peer too (IP literals never reach the lookup).
          const refusal = this.refusalOf(options.hostname, (socket as Socket).remoteAddress ?? '');
          if (refusal) {
            socket.destroy();
            callback(refusal, null);
            return;
          }
          callback(null, socket);
        });
      },
    });
  }

  /**
   * Why `address` (which `host` resolved or connected to) is refused, or
   * null when it is allowed.
   */
  reasonFor(host: string, address: string): string | null {
    if (this.allowPrivateNetworks) return null;
    if (this.hosts.has(normaliseHost(host))) return null;
    const bare = address.split('%')[0]!;
    const family = isIP(bare);
    if (family !== 0 && this.networks.check(bare, family === 4 ? 'ipv4' : 'ipv6')) return null;
    return nonPublicReason(bare);
  }

  private refusalOf(host: string, address: string, label = `connect ${host}`): SsrfRefusedError | null {
    const why = this.reasonFor(host, address);
    if (!why) return null;
    const h = normaliseHost(host);
    const shown = address === h ? address : `${h} → ${address}`;
    return new SsrfRefusedError(
      host,
      `${label}: refused by the SSRF guard: ${shown} is not a public address (${why}); ${FIX}`,
      { reason: 'ssrf' },
    );
  }

  /**
   * Every address of a host name (an IP literal is itself), by the
   * configured DNS servers or the system resolver.
   * @throws errors with `code` ENOTFOUND/ENODATA (no such host) or others (temporary)
   */
  async resolve(host: string): Promise<string[]> {
    const h = normaliseHost(host);
    if (isIP(h)) return [h];
    if (!this.resolver) return (await systemLookup(h, { all: true, verbatim: true })).map((a) => a.address);
    const [v4, v6] = await Promise.allSettled([this.resolver.resolve4(h), this.resolver.resolve6(h)]);
    const out = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
    if (out.length) return out;
    const failure = v4.status === 'rejected' ? v4.reason : v6.status === 'rejected' ? v6.reason : undefined;
    const code = (failure as { code?: string } | undefined)?.code;
    // c-ares says ENODATA/ENOTFOUND for a name without records: the name does not exist for crawling.
    throw Object.assign(new Error(`no address for ${h} (${code ?? 'no records'})`), {
      code: code === 'ENODATA' || code === 'ENOTFOUND' || !code ? 'ENOTFOUND' : code,
      cause: failure,
    });
  }

  /** The lookup net.connect calls: resolves, then refuses when any address is not allowed. */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    this.resolve(hostname).then(
      (addresses) => {
        for (const a of addresses) {
          const refusal = this.refusalOf(hostname, a);
          if (refusal) return callback(refusal, '', 0);
        }
        const wanted =
          options.family === 6 || options.family === 'IPv6'
            ? 6
            : options.family === 4 || options.family === 'IPv4'
              ? 4
              : 0;
        const all = addresses
          .map((address) => ({ address, family: isIP(address) }))
          .filter((a) => wanted === 0 || a.family === wanted);
        if (!all.length) {
          return callback(
            Object.assign(new Error(`no IPv${wanted} address for ${hostname}`), { code: 'ENOTFOUND' }),
            '',
            0,
          );
        }
        if (options.all) return (callback as unknown as (e: null, a: typeof all) => void)(null, all);
        return callback(null, all[0]!.address, all[0]!.family);
      },
      (err: unknown) => callback(err as NodeJS.ErrnoException, '', 0),
    );
  };

  /**
   * Throws unless the URL is http(s) and every address of its host is
   * allowed. `method` only labels the message ("GET http://…: …").
   * @throws PermanentFetchError (bad scheme, unknown host), SsrfRefusedError, TransientFetchError (DNS down)
   */
  async assertAllowed(url: URL, method = 'GET'): Promise<void> {
    const label = `${method} ${url.href}`;
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new PermanentFetchError(
        url.href,
        `${label}: scheme ${url.protocol.replace(/:$/, '')} is not supported (only http and https can be fetched)`,
        { reason: 'bad-url' },
      );
    }
    if (this.allowPrivateNetworks) return;
    const host = normaliseHost(url.hostname);
    if (this.hosts.has(host)) return;
    let addresses: string[];
    try {
      addresses = await this.resolve(host);
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
    for (const address of addresses) {
      const refusal = this.refusalOf(host, address, label);
      if (refusal) throw new SsrfRefusedError(url.href, refusal.message, { reason: 'ssrf' });
    }
  }
}

/** Policies by their options: one Agent (and its connection pool) per distinct configuration. */
const policies = new Map<string, AddressPolicy>();

/** The shared policy for these options (processes have one or two). */
export function policyFor(opts: SsrfOptions): AddressPolicy {
  const key = JSON.stringify([
    opts.allowPrivateNetworks,
    [...(opts.allowHosts ?? [])].map(normaliseHost).sort(),
    opts.allowNetworks ?? [],
    opts.dnsServers ?? [],
  ]);
  let p = policies.get(key);
  if (!p) {
    p = new AddressPolicy(opts);
    policies.set(key, p);
  }
  return p;
}

/**
 * Throws unless the URL is http(s) and its host may be fetched under `opts`
 * (the same policy the connect-time check applies).
 * @throws PermanentFetchError, SsrfRefusedError, TransientFetchError
 */
export function assertFetchAllowed(url: URL, opts: SsrfOptions, method = 'GET'): Promise<void> {
  return policyFor(opts).assertAllowed(url, method);
}
