/**
 * A real DNS server on loopback UDP for SSRF tests (docs/design.md, "SSRF
 * guard"): Sluice's resolver is pointed at it with CRAWL_DNS_SERVERS
 * (`dns.Resolver#setServers`), so the real lookup path runs. Each name
 * answers A queries from a list of address lists, one per query, the last
 * one repeated, always with TTL 0 (nothing may cache it); AAAA queries get
 * an empty answer; unknown names NXDOMAIN. Only what the tests need of RFC
 * 1035: one question per query, no compression in questions.
 */
import { createSocket, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';

export interface TestDnsServer {
  /** `127.0.0.1:<port>`, for CRAWL_DNS_SERVERS. */
  server: string;
  /** A queries answered so far, by name. */
  queries: Map<string, number>;
  close(): Promise<void>;
}

function readName(msg: Buffer, offset: number): { name: string; end: number } {
  const labels: string[] = [];
  let i = offset;
  while (i < msg.length && msg[i]! > 0) {
    const len = msg[i]!;
    labels.push(msg.subarray(i + 1, i + 1 + len).toString('latin1'));
    i += 1 + len;
  }
  return { name: labels.join('.').toLowerCase(), end: i + 1 };
}

/**
 * Starts the server.
 * @param answers name → the addresses of the 1st, 2nd, … A query (the last list repeats)
 */
export async function startDnsServer(answers: Record<string, string[][]>): Promise<TestDnsServer> {
  const queries = new Map<string, number>();
  const socket: Socket = createSocket('udp4');
  socket.on('message', (msg, peer) => {
    if (msg.length < 12) return;
    const { name, end } = readName(msg, 12);
    const qtype = msg.readUInt16BE(end);
    const question = msg.subarray(12, end + 4);
    const known = Object.hasOwn(answers, name);
    let addresses: string[] = [];
    if (known && qtype === 1) {
      const n = queries.get(name) ?? 0;
      queries.set(name, n + 1);
      const list = answers[name]!;
      addresses = list[Math.min(n, list.length - 1)] ?? [];
    }
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2); // id
    header.writeUInt16BE(known ? 0x8180 : 0x8183, 2); // response, recursion available; NXDOMAIN when unknown
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(addresses.length, 6);
    const records = addresses.map((a) => {
      const rr = Buffer.alloc(16);
      rr.writeUInt16BE(0xc00c, 0); // the question's name
      rr.writeUInt16BE(1, 2); // A
      rr.writeUInt16BE(1, 4); // IN
      rr.writeUInt32BE(0, 6); // TTL 0
      rr.writeUInt16BE(4, 10);
      for (const [k, octet] of a.split('.').entries()) rr.writeUInt8(Number(octet), 12 + k);
      return rr;
    });
    socket.send(Buffer.concat([header, question, ...records]), peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address() as AddressInfo;
  return {
    server: `127.0.0.1:${port}`,
    queries,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
