/**
 * robots.txt, fetched once per origin (and kept for `ttlMs`), through the
 * same SSRF guard and limits as pages.
 *
 * Policy when there is no usable robots.txt:
 * - 4xx (404, 403, …), an empty file or a non-text body: allow everything
 *   (RFC 9309 §2.3.1.3: "unavailable" means no restrictions).
 * - 5xx, timeouts, unreachable: RFC 9309 says to assume full disallow, but a
 *   crawl would then fail on a transient robots.txt hiccup while the pages
 *   themselves may well load. Sluice allows everything and logs a warning;
 *   the failure is not cached for long (`errorTtlMs`, default 60 s), so the
 *   rules are picked up once robots.txt is reachable again.
 */
import * as robotsModule from 'robots-parser';
import { FetchError, PermanentFetchError } from '../errors/index.ts';
import { fetchDocument, type FetchOptions } from './fetch.ts';

interface Robot {
  isAllowed(url: string, ua?: string): boolean | undefined;
  getCrawlDelay(ua?: string): number | undefined;
  getSitemaps(): string[];
}
type RobotsParser = (url: string, contents: string) => Robot;

// robots-parser is CommonJS (`module.exports = fn`) with an ESM-style d.ts.
const parseRobots: RobotsParser = ((robotsModule as unknown as { default?: unknown }).default ??
  robotsModule) as RobotsParser;

/** What a robots check needs to fetch robots.txt: the page fetch's options. */
export type RobotsRequestOptions = Pick<FetchOptions, 'userAgent'> &
  Partial<Omit<FetchOptions, 'etag' | 'lastModified' | 'scope'>>;

export interface RobotsCacheOptions {
  /** How long fetched rules are kept. Default 24 h. */
  ttlMs?: number;
  /** How long an unreachable/5xx robots.txt counts as allow-all. Default 60 s. */
  errorTtlMs?: number;
  /** Receives a line for every robots.txt that could not be used. Default: console.warn. */
  log?: (message: string) => void;
  /** Defaults for fetching robots.txt. */
  maxBytes?: number;
  timeoutMs?: number;
  maxRedirects?: number;
  now?: () => number;
}

interface Entry {
  robot: Robot | null;
  expires: number;
}

/**
 * The robots.txt product token of a User-Agent: "SluiceBot/0.1 (+https://…)"
 * → "SluiceBot"; "Mozilla/5.0 (compatible; SluiceBot/0.1)" → "SluiceBot".
 */
export function robotsToken(userAgent: string): string {
  const compatible = /compatible;\s*([A-Za-z0-9_-]+)/i.exec(userAgent);
  if (compatible) return compatible[1]!;
  return /^[^\s/]+/.exec(userAgent.trim())?.[0] ?? '*';
}

export class RobotsCache {
  readonly #entries = new Map<string, Promise<Entry>>();
  readonly #ttlMs: number;
  readonly #errorTtlMs: number;
  readonly #log: (message: string) => void;
  readonly #defaults: { maxBytes: number; timeoutMs: number; maxRedirects: number };
  readonly #now: () => number;

  constructor(opts: RobotsCacheOptions = {}) {
    this.#ttlMs = opts.ttlMs ?? 24 * 60 * 60 * 1000;
    this.#errorTtlMs = opts.errorTtlMs ?? 60 * 1000;
    this.#log = opts.log ?? ((m) => console.warn(m));
    this.#defaults = {
      maxBytes: opts.maxBytes ?? 512 * 1024,
      timeoutMs: opts.timeoutMs ?? 10_000,
      maxRedirects: opts.maxRedirects ?? 5,
    };
    this.#now = opts.now ?? Date.now;
  }

  /** True when robots.txt of the URL's origin lets `userAgent` fetch it. */
  async isAllowed(url: string, agent: string | RobotsRequestOptions): Promise<boolean> {
    const opts = typeof agent === 'string' ? { userAgent: agent } : agent;
    const robot = await this.#robotFor(url, opts);
    return robot?.isAllowed(url, robotsToken(opts.userAgent)) ?? true;
  }

  /** Throws a PermanentFetchError when robots.txt disallows the URL. */
  async assertAllowed(url: string, agent: string | RobotsRequestOptions): Promise<void> {
    if (await this.isAllowed(url, agent)) return;
    const ua = typeof agent === 'string' ? agent : agent.userAgent;
    throw new PermanentFetchError(
      url,
      `GET ${url}: disallowed by ${new URL('/robots.txt', url).href} for user agent "${robotsToken(ua)}"; Sluice respects robots.txt — ask the site owner or ingest a local copy`,
      { reason: 'robots' },
    );
  }

  /** The Crawl-delay for `userAgent` on the URL's origin, in ms; undefined when none. */
  async crawlDelayMs(url: string, agent: string | RobotsRequestOptions): Promise<number | undefined> {
    const opts = typeof agent === 'string' ? { userAgent: agent } : agent;
    const robot = await this.#robotFor(url, opts);
    const seconds = robot?.getCrawlDelay(robotsToken(opts.userAgent));
    return seconds === undefined || !Number.isFinite(seconds) || seconds < 0 ? undefined : seconds * 1000;
  }

  /**
   * The `Sitemap:` URLs robots.txt of the URL's origin lists (absolute, as
   * written; any host), in file order; empty when none or no usable robots.txt.
   */
  async sitemaps(url: string, agent: string | RobotsRequestOptions): Promise<string[]> {
    const opts = typeof agent === 'string' ? { userAgent: agent } : agent;
    const robot = await this.#robotFor(url, opts);
    return robot?.getSitemaps() ?? [];
  }

  /** Forgets every cached robots.txt. */
  clear(): void {
    this.#entries.clear();
  }

  async #robotFor(url: string, opts: RobotsRequestOptions): Promise<Robot | null> {
    let origin: string;
    try {
      const u = new URL(url);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
      origin = u.origin;
    } catch {
      return null;
    }
    const cached = this.#entries.get(origin);
    if (cached) {
      const entry = await cached;
      if (entry.expires > this.#now()) return entry.robot;
      if (this.#entries.get(origin) === cached) this.#entries.delete(origin);
    }
    let pending = this.#entries.get(origin);
    if (!pending) {
      pending = this.#load(origin, opts);
      this.#entries.set(origin, pending);
    }
    return (await pending).robot;
  }

  async #load(origin: string, opts: RobotsRequestOptions): Promise<Entry> {
    const robotsUrl = `${origin}/robots.txt`;
    const fetchOpts: FetchOptions = {
      userAgent: opts.userAgent,
      maxBytes: Math.min(opts.maxBytes ?? this.#defaults.maxBytes, this.#defaults.maxBytes),
      timeoutMs: opts.timeoutMs ?? this.#defaults.timeoutMs,
      maxRedirects: opts.maxRedirects ?? this.#defaults.maxRedirects,
      allowPrivateNetworks: opts.allowPrivateNetworks ?? false,
      allowHosts: opts.allowHosts,
      allowNetworks: opts.allowNetworks,
      dnsServers: opts.dnsServers,
    };
    try {
      const res = await fetchDocument(robotsUrl, fetchOpts);
      if (res.status === 'not-modified') return { robot: null, expires: this.#now() + this.#errorTtlMs };
      return { robot: parseRobots(robotsUrl, res.text), expires: this.#now() + this.#ttlMs };
    } catch (err) {
      if (err instanceof FetchError && err.permanent) {
        // 4xx, empty, not text, refused by the guard…: no restrictions. (A host
        // refused by the guard will be refused for its pages too.)
        if (err.reason !== 'http-status' && err.reason !== 'empty')
          this.#log(`robots.txt ignored (allowing all): ${err.message}`);
        // A guard refusal depends on the caller's allowed hosts: do not keep it long.
        return { robot: null, expires: this.#now() + (err.reason === 'ssrf' ? this.#errorTtlMs : this.#ttlMs) };
      }
      this.#log(`robots.txt unavailable, allowing all for now: ${err instanceof Error ? err.message : String(err)}`);
      return { robot: null, expires: this.#now() + this.#errorTtlMs };
    }
  }
}
