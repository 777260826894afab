// Pure builders of nft script text for the load balancer's objects inside a table the caller owns.
// `buildLbScript` creates everything for a state, `buildLbUpdate` moves the kernel from one state to the
// next with the fewest changes (a backend change rewrites one map and one rule), `buildLbTeardown`
// removes our objects. Every script is one `nft -f` transaction: it applies whole or not at all.

import {
  type Backend,
  type LbOptions,
  type LbState,
  type LbTable,
  type PublishedPort,
  type VipService,
  validateOptions,
  validateState,
  validateTable,
} from './model.js';

/** Every object we create is named with this prefix; the caller keeps it free. */
export const LB_PREFIX = 'lb_';
export const DEFAULT_MARK_BIT = 0x2000;

const VIPS = 'lb_vips';
/** VIPs balanced on every port of a protocol: `vip . proto → goto` (checked after the exact ports). */
const VIPS_ALL = 'lb_vips_all';
const PORTS = 'lb_ports';
const REMOTE = 'lb_remote';
const HAIRPIN = 'lb_hairpin';
const PRE = 'lb_prerouting';
const OUT = 'lb_output';
const POST = 'lb_postrouting';

const vipChain = (s: VipService) => `lb_v_${s.id}`;
const vipMap = (s: VipService) => `lb_vb_${s.id}`;
const pubChain = (p: PublishedPort) => `lb_p_${p.protocol}_${p.published}`;
const pubMap = (p: PublishedPort) => `lb_pb_${p.protocol}_${p.published}`;

const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;

interface Ctx {
  t: string; // "inet shoal"
  mark: string;
}

function ctxOf(table: LbTable, options: LbOptions): Ctx {
  validateTable(table);
  validateOptions(options);
  return { t: `${table.family} ${table.name}`, mark: hex(options.markBit ?? DEFAULT_MARK_BIT) };
}

const sorted = <T>(xs: Iterable<T>) => [...xs].sort();

// --- the per-frontend pieces -------------------------------------------------------------------------

// The rule that balances: mark the packet (our postrouting chain decides on masquerade from the mark),
// then DNAT to the backend the round-robin counter picks. No backend: refuse at once.
function vipRule(c: Ctx, s: VipService): string[] {
  if (s.backends.length === 0) return refuse(c, vipChain(s));
  return [
    `add rule ${c.t} ${vipChain(s)} meta mark set meta mark | ${c.mark} dnat ip to numgen inc mod ${s.backends.length} map @${vipMap(s)}`,
  ];
}

function pubRule(c: Ctx, p: PublishedPort): string[] {
  if (p.backends.length === 0) return refuse(c, pubChain(p));
  return [
    `add rule ${c.t} ${pubChain(p)} meta l4proto ${p.protocol} meta mark set meta mark | ${c.mark} dnat ip addr . port to numgen inc mod ${p.backends.length} map @${pubMap(p)}`,
  ];
}

function refuse(c: Ctx, chain: string): string[] {
  return [
    `add rule ${c.t} ${chain} meta l4proto tcp reject with tcp reset`,
    `add rule ${c.t} ${chain} reject`,
  ];
}

const vipElements = (s: VipService) => s.backends.map((b, i) => `${i} : ${b.address}`);
const pubElements = (p: PublishedPort) => p.backends.map((b, i) => `${i} : ${b.address} . ${p.target}`);
const vipKeys = (s: VipService) =>
  s.ports.filter((p) => p.port !== 0).map((p) => `${s.vip} . ${p.protocol} . ${p.port}`);
const vipAllKeys = (s: VipService) =>
  s.ports.filter((p) => p.port === 0).map((p) => `${s.vip} . ${p.protocol}`);
const pubKey = (p: PublishedPort) => `${p.protocol} . ${p.published}`;

function elements(c: Ctx, set: string, items: string[], verb: 'add' | 'delete' = 'add'): string[] {
  return items.length === 0 ? [] : [`${verb} element ${c.t} ${set} { ${items.join(', ')} }`];
}

function createVip(c: Ctx, s: VipService): string[] {
  return [
    `add map ${c.t} ${vipMap(s)} { typeof numgen inc mod 2 : ip daddr; }`,
    `add chain ${c.t} ${vipChain(s)}`,
    ...elements(c, vipMap(s), vipElements(s)),
    ...vipRule(c, s),
    ...elements(
      c,
      VIPS,
      vipKeys(s).map((k) => `${k} : goto ${vipChain(s)}`),
    ),
    ...elements(
      c,
      VIPS_ALL,
      vipAllKeys(s).map((k) => `${k} : goto ${vipChain(s)}`),
    ),
  ];
}

function deleteVip(c: Ctx, s: VipService): string[] {
  return [
    ...elements(c, VIPS, vipKeys(s), 'delete'),
    ...elements(c, VIPS_ALL, vipAllKeys(s), 'delete'),
    `flush chain ${c.t} ${vipChain(s)}`,
    `delete chain ${c.t} ${vipChain(s)}`,
    `delete map ${c.t} ${vipMap(s)}`,
  ];
}

function createPub(c: Ctx, p: PublishedPort): string[] {
  return [
    `add map ${c.t} ${pubMap(p)} { typeof numgen inc mod 2 : ip daddr . ${p.protocol} dport; }`,
    `add chain ${c.t} ${pubChain(p)}`,
    ...elements(c, pubMap(p), pubElements(p)),
    ...pubRule(c, p),
    ...elements(c, PORTS, [`${pubKey(p)} : goto ${pubChain(p)}`]),
  ];
}

function deletePub(c: Ctx, p: PublishedPort): string[] {
  return [
    ...elements(c, PORTS, [pubKey(p)], 'delete'),
    `flush chain ${c.t} ${pubChain(p)}`,
    `delete chain ${c.t} ${pubChain(p)}`,
    `delete map ${c.t} ${pubMap(p)}`,
  ];
}

// A backend change: replace the map's elements and the rule (its modulus) in the same transaction, so
// new connections see the old set or the new one, never a mix; established ones keep their conntrack entry.
function rebalanceVip(c: Ctx, s: VipService): string[] {
  return [
    `flush map ${c.t} ${vipMap(s)}`,
    ...elements(c, vipMap(s), vipElements(s)),
    `flush chain ${c.t} ${vipChain(s)}`,
    ...vipRule(c, s),
  ];
}

function rebalancePub(c: Ctx, p: PublishedPort): string[] {
  return [
    `flush map ${c.t} ${pubMap(p)}`,
    ...elements(c, pubMap(p), pubElements(p)),
    `flush chain ${c.t} ${pubChain(p)}`,
    ...pubRule(c, p),
  ];
}

const remoteSet = (s: LbState) => {
  const out = new Set<string>();
  for (const x of [...s.services, ...s.published]) {
    for (const b of x.backends) if (!b.local) out.add(b.address);
  }
  return out;
};
const hairpinSet = (s: LbState) => new Set(s.hairpinSubnets.map((n) => `${n} . ${n}`));

// --- whole scripts -----------------------------------------------------------------------------------

/**
 * Everything for `state` inside `table` (which must exist and must not hold our objects yet: on a restart
 * prefix the output of `buildLbTeardown` with the names `lbObjectNames` finds, in the same transaction).
 */
export function buildLbScript(table: LbTable, state: LbState, options: LbOptions = {}): string {
  const c = ctxOf(table, options);
  validateState(state);
  const hooks = options.hooks ?? true;
  const base = (hook: string, prio: string) =>
    hooks ? ` { type nat hook ${hook} priority ${prio}; policy accept; }` : '';
  const lines = [
    `add map ${c.t} ${VIPS} { type ipv4_addr . inet_proto . inet_service : verdict; }`,
    `add map ${c.t} ${VIPS_ALL} { type ipv4_addr . inet_proto : verdict; }`,
    `add map ${c.t} ${PORTS} { type inet_proto . inet_service : verdict; }`,
    `add set ${c.t} ${REMOTE} { type ipv4_addr; }`,
    `add set ${c.t} ${HAIRPIN} { type ipv4_addr . ipv4_addr; flags interval; }`,
    `add chain ${c.t} ${PRE}${base('prerouting', 'dstnat')}`,
    `add chain ${c.t} ${OUT}${base('output', '-100')}`,
    `add chain ${c.t} ${POST}${base('postrouting', 'srcnat')}`,
    // A VIP is matched by address, protocol and port; a published port on any of the node's own
    // addresses but loopback (DNAT from 127.0.0.0/8 would need route_localnet, as in docker without its proxy).
    `add rule ${c.t} ${PRE} ip daddr . meta l4proto . th dport vmap @${VIPS}`,
    `add rule ${c.t} ${PRE} ip daddr . meta l4proto vmap @${VIPS_ALL}`,
    `add rule ${c.t} ${PRE} fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @${PORTS}`,
    `add rule ${c.t} ${OUT} ip daddr . meta l4proto . th dport vmap @${VIPS}`,
    `add rule ${c.t} ${OUT} ip daddr . meta l4proto vmap @${VIPS_ALL}`,
    `add rule ${c.t} ${OUT} fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @${PORTS}`,
    // Masquerade only what we balanced, and only when the reply would not come back through this node:
    // a backend on another node, or a client on the backend's own subnet (hairpin).
    `add rule ${c.t} ${POST} meta mark & ${c.mark} != ${c.mark} return`,
    `add rule ${c.t} ${POST} ip daddr @${REMOTE} masquerade`,
    `add rule ${c.t} ${POST} ip saddr . ip daddr @${HAIRPIN} masquerade`,
    ...elements(c, REMOTE, sorted(remoteSet(state))),
    ...elements(c, HAIRPIN, sorted(hairpinSet(state))),
  ];
  for (const s of state.services) lines.push(...createVip(c, s));
  for (const p of state.published) lines.push(...createPub(c, p));
  return `${lines.join('\n')}\n`;
}

const sameBackends = (a: readonly Backend[], b: readonly Backend[]) =>
  a.length === b.length && a.every((x, i) => x.address === b[i].address && x.local === b[i].local);

/**
 * The transaction from `before` (what the kernel holds, as built by these functions) to `after`. Empty
 * string when nothing changes.
 */
export function buildLbUpdate(
  table: LbTable,
  before: LbState,
  after: LbState,
  options: LbOptions = {},
): string {
  const c = ctxOf(table, options);
  validateState(after);
  const lines: string[] = [];

  const oldSvc = new Map(before.services.map((s) => [s.id, s]));
  const newSvc = new Map(after.services.map((s) => [s.id, s]));
  for (const [id, s] of oldSvc) if (!newSvc.has(id)) lines.push(...deleteVip(c, s));
  for (const [id, s] of newSvc) {
    const old = oldSvc.get(id);
    if (!old) {
      lines.push(...createVip(c, s));
      continue;
    }
    const keyed: [string, (x: VipService) => string[]][] = [
      [VIPS, vipKeys],
      [VIPS_ALL, vipAllKeys],
    ];
    for (const [map, keysOf] of keyed) {
      const newKeys = new Set(keysOf(s));
      lines.push(
        ...elements(
          c,
          map,
          keysOf(old).filter((k) => !newKeys.has(k)),
          'delete',
        ),
      );
    }
    if (!sameBackends(old.backends, s.backends)) lines.push(...rebalanceVip(c, s));
    for (const [map, keysOf] of keyed) {
      const oldKeys = new Set(keysOf(old));
      lines.push(
        ...elements(
          c,
          map,
          keysOf(s)
            .filter((k) => !oldKeys.has(k))
            .map((k) => `${k} : goto ${vipChain(s)}`),
        ),
      );
    }
  }

  const key = (p: PublishedPort) => `${p.protocol}_${p.published}`;
  const oldPub = new Map(before.published.map((p) => [key(p), p]));
  const newPub = new Map(after.published.map((p) => [key(p), p]));
  for (const [k, p] of oldPub) if (!newPub.has(k)) lines.push(...deletePub(c, p));
  for (const [k, p] of newPub) {
    const old = oldPub.get(k);
    if (!old) lines.push(...createPub(c, p));
    else if (old.target !== p.target || !sameBackends(old.backends, p.backends))
      lines.push(...rebalancePub(c, p));
  }

  const diff = (a: Set<string>, b: Set<string>) => sorted([...a].filter((x) => !b.has(x)));
  const [oldRemote, newRemote] = [remoteSet(before), remoteSet(after)];
  const [oldHair, newHair] = [hairpinSet(before), hairpinSet(after)];
  // Set additions go first: a backend that became remote must be masqueraded from its first new connection.
  lines.unshift(
    ...elements(c, REMOTE, diff(newRemote, oldRemote)),
    ...elements(c, HAIRPIN, diff(newHair, oldHair)),
  );
  lines.push(
    ...elements(c, REMOTE, diff(oldRemote, newRemote), 'delete'),
    ...elements(c, HAIRPIN, diff(oldHair, newHair), 'delete'),
  );
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** Removes the named objects (ours only: names without the prefix are ignored), rules first, then maps
 * and sets, then chains, so references never dangle inside the transaction. */
export function buildLbTeardown(
  table: LbTable,
  objects: { chains: string[]; maps: string[]; sets: string[] },
): string {
  const c = ctxOf(table, {});
  const ours = (xs: string[]) => xs.filter((x) => x.startsWith(LB_PREFIX) && /^[A-Za-z0-9_]+$/.test(x));
  const chains = ours(objects.chains);
  const lines = [
    ...chains.map((x) => `flush chain ${c.t} ${x}`),
    ...ours(objects.maps).map((x) => `delete map ${c.t} ${x}`),
    ...ours(objects.sets).map((x) => `delete set ${c.t} ${x}`),
    ...chains.map((x) => `delete chain ${c.t} ${x}`),
  ];
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** Our objects in the output of `nft -j list table FAMILY NAME`. */
export function lbObjectNames(listJson: string): { chains: string[]; maps: string[]; sets: string[] } {
  const out = { chains: [] as string[], maps: [] as string[], sets: [] as string[] };
  const doc = JSON.parse(listJson) as { nftables?: Record<string, { name?: string }>[] };
  for (const item of doc.nftables ?? []) {
    const [kind, body] = Object.entries(item)[0] ?? [];
    const name = body?.name;
    if (typeof name !== 'string' || !name.startsWith(LB_PREFIX)) continue;
    if (kind === 'chain') out.chains.push(name);
    else if (kind === 'map') out.maps.push(name);
    else if (kind === 'set') out.sets.push(name);
  }
  return out;
}
