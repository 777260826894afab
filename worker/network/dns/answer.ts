// The resolver's pure core: one query packet in, what to do about it out (a reply packet, forward it
// upstream, or drop it). No sockets, no clock: rotation state is injected.

import { isIPv4, isIPv6 } from 'node:net';
import * as packet from 'dns-packet';
import type { NameRecord, Records } from './records.js';

/** docker's embedded resolver answers with a TTL of 600 s (libnetwork resolver.go, respTTL). */
export const DNS_TTL = 600;
/** A UDP reply never exceeds this unless the query's EDNS0 record allows more (RFC 1035 §4.2.1). */
export const UDP_MIN_SIZE = 512;
/** What we advertise and honour at most for EDNS0 over UDP. */
export const UDP_MAX_SIZE = 4096;
export const TCP_MAX_SIZE = 65535;

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4 } as const;
type Rcode = (typeof RCODE)[keyof typeof RCODE];
const QR = 1 << 15;
const OPCODE_MASK = 0xf << 11;
const TC = packet.TRUNCATED_RESPONSE;
const RD = packet.RECURSION_DESIRED;
const RA = packet.RECURSION_AVAILABLE;

/** Which offset a multi-address answer starts at; `RoundRobin` keeps a counter per name. */
export interface Rotation {
  offset(name: string, count: number): number;
}

export class RoundRobin implements Rotation {
  private readonly next = new Map<string, number>();
  constructor(private readonly maxNames = 4096) {}
  offset(name: string, count: number): number {
    const n = this.next.get(name) ?? 0;
    if (!this.next.has(name) && this.next.size >= this.maxNames) this.next.clear();
    this.next.set(name, (n + 1) % count);
    return n % count;
  }
}

export interface ResolveContext {
  records: Records;
  transport: 'udp' | 'tcp';
  /** Search domains of the network: `web.example.org` is looked up as `web` when `example.org` is one. */
  searchDomains?: readonly string[];
  /** Whether unknown names go upstream (the caller does the I/O); off: NXDOMAIN at once. */
  forwarding?: boolean;
  rotation?: Rotation;
}

export type Resolution =
  | { action: 'reply'; packet: Buffer; rcode: Rcode; truncated: boolean }
  /** Send `query` upstream over the same transport and relay the answer; send `servfail` if that fails. */
  | { action: 'forward'; query: Buffer; servfail: Buffer }
  | { action: 'drop'; reason: string };

const sharedRotation = new RoundRobin();

type Question = packet.Question;
type Answer = packet.Answer;

interface Reply {
  id: number;
  flags: number;
  rcode: Rcode;
  questions: Question[];
  answers: Answer[];
  edns: boolean;
}

/** Decides the answer to one DNS message received on a listener. Never throws: whatever the codec cannot
 * take back (a question it decoded but cannot encode again) is answered FORMERR from the header alone. */
export function resolve(query: Buffer, ctx: ResolveContext): Resolution {
  try {
    return decide(query, ctx);
  } catch {
    return malformed(query);
  }
}

function decide(query: Buffer, ctx: ResolveContext): Resolution {
  let decoded: packet.DecodedPacket;
  try {
    decoded = packet.decode(query);
  } catch {
    return malformed(query);
  }
  if (decoded.flag_qr) return { action: 'drop', reason: 'a response, not a query' };
  const id = decoded.id ?? 0;
  const rd = decoded.flag_rd ? RD : 0;
  const edns = (decoded.additionals ?? []).some((a) => a.type === 'OPT');
  const questions = decoded.questions ?? [];
  const reply = (rcode: Rcode, answers: Answer[] = [], qs: Question[] = questions) =>
    encodeReply(
      { id, flags: rd | RA, rcode, questions: qs, answers, edns },
      ctx.transport,
      maxSize(decoded, ctx),
    );
  const opcode = ((decoded.flags ?? 0) & OPCODE_MASK) >> 11;
  if (opcode !== 0) return reply(RCODE.NOTIMP);
  if (questions.length !== 1) return reply(RCODE.FORMERR);
  const q = questions[0];
  if (typeof q.name !== 'string' || (q.class !== undefined && q.class !== 'IN')) return reply(RCODE.NOTIMP);

  const unknown = (): Resolution =>
    ctx.forwarding ? { action: 'forward', query, servfail: servfailFor(reply) } : reply(RCODE.NXDOMAIN);

  if (q.type === 'PTR') {
    const address = ptrAddress(q.name);
    const target = address === undefined ? undefined : ctx.records.address(address);
    if (target === undefined) return unknown();
    return reply(RCODE.NOERROR, [{ name: q.name, type: 'PTR', class: 'IN', ttl: DNS_TTL, data: target }]);
  }

  const found = lookup(q.name, ctx);
  if (found === undefined) return unknown();
  if (q.type !== 'A' && q.type !== 'AAAA') return reply(RCODE.NOERROR); // known name, no such record
  const family = q.type === 'A' ? isIPv4 : isIPv6;
  const addresses = rotate(
    found.addresses.filter((a) => family(a)),
    found.key,
    ctx.rotation ?? sharedRotation,
  );
  return reply(
    RCODE.NOERROR,
    addresses.map((a) => ({
      name: q.name,
      type: q.type as 'A' | 'AAAA',
      class: 'IN' as const,
      ttl: DNS_TTL,
      data: a,
    })),
  );
}

function lookup(asked: string, ctx: ResolveContext): (NameRecord & { key: string }) | undefined {
  const name = asked.toLowerCase().replace(/\.$/, '');
  if (name === '') return undefined;
  const exact = ctx.records.name(name);
  if (exact) return { ...exact, key: name };
  for (const domain of ctx.searchDomains ?? []) {
    const suffix = `.${domain.toLowerCase().replace(/^\.|\.$/g, '')}`;
    if (suffix.length > 1 && name.endsWith(suffix) && name.length > suffix.length) {
      const short = name.slice(0, -suffix.length);
      const r = ctx.records.name(short);
      if (r) return { ...r, key: short };
    }
  }
  return undefined;
}

function rotate(addresses: string[], key: string, rotation: Rotation): string[] {
  if (addresses.length < 2) return addresses;
  const k = rotation.offset(key, addresses.length) % addresses.length;
  return [...addresses.slice(k), ...addresses.slice(0, k)];
}

/** `4.3.2.1.in-addr.arpa` → 1.2.3.4; 32 nibbles `.ip6.arpa` → the IPv6 address. */
export function ptrAddress(name: string): string | undefined {
  const n = name.toLowerCase().replace(/\.$/, '');
  if (n.endsWith('.in-addr.arpa')) {
    const parts = n.slice(0, -'.in-addr.arpa'.length).split('.');
    if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255)) return;
    return parts.reverse().join('.');
  }
  if (n.endsWith('.ip6.arpa')) {
    const nibbles = n.slice(0, -'.ip6.arpa'.length).split('.');
    if (nibbles.length !== 32 || !nibbles.every((x) => /^[0-9a-f]$/.test(x))) return;
    const hex = nibbles.reverse().join('');
    const groups = hex.match(/.{4}/g)!.map((g) => g.replace(/^0+(?=.)/, ''));
    return compressIPv6(groups);
  }
  return undefined;
}

// The canonical (RFC 5952) text, the form a caller's records are expected to use.
function compressIPv6(groups: string[]): string {
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

function maxSize(q: packet.DecodedPacket, ctx: ResolveContext): number {
  if (ctx.transport === 'tcp') return TCP_MAX_SIZE;
  const opt = (q.additionals ?? []).find((a) => a.type === 'OPT') as { udpPayloadSize?: number } | undefined;
  const asked = opt?.udpPayloadSize ?? 0;
  return Math.max(UDP_MIN_SIZE, Math.min(asked, UDP_MAX_SIZE));
}

function encodeReply(r: Reply, transport: 'udp' | 'tcp', limit: number): Resolution {
  const build = (answers: Answer[], truncated: boolean) =>
    packet.encode({
      type: 'response',
      id: r.id,
      flags: r.flags | r.rcode | (truncated ? TC : 0),
      questions: r.questions,
      answers,
      additionals: r.edns
        ? [
            {
              type: 'OPT',
              name: '.',
              udpPayloadSize: UDP_MAX_SIZE,
              extendedRcode: 0,
              ednsVersion: 0,
              flags: 0,
              flag_do: false,
              options: [],
            },
          ]
        : [],
    });
  let answers = r.answers;
  let out = build(answers, false);
  let truncated = false;
  // Too big for the transport: drop answers from the end until it fits; over UDP the TC bit tells the
  // client to ask again over TCP (where everything fits).
  while (out.length > limit && answers.length > 0) {
    answers = answers.slice(0, -1);
    truncated = transport === 'udp';
    out = build(answers, truncated);
  }
  return { action: 'reply', packet: out, rcode: r.rcode, truncated };
}

function servfailFor(reply: (rcode: Rcode) => Resolution): Buffer {
  const r = reply(RCODE.SERVFAIL);
  return r.action === 'reply' ? r.packet : Buffer.alloc(0);
}

// A message we cannot parse: answer FORMERR when its header is readable and it is a query (so the client
// fails fast instead of retrying), otherwise drop it.
function malformed(query: Buffer): Resolution {
  if (query.length < 12) return { action: 'drop', reason: 'shorter than a DNS header' };
  const flags = query.readUInt16BE(2);
  if (flags & QR) return { action: 'drop', reason: 'an unparsable response' };
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0);
  header.writeUInt16BE(QR | (flags & OPCODE_MASK) | (flags & RD) | RA | RCODE.FORMERR, 2);
  return { action: 'reply', packet: header, rcode: RCODE.FORMERR, truncated: false };
}

/** The rcode names, for callers and tests that read replies. */
export const RCODES = RCODE;
