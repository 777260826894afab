// shoal's one nftables table (`ip shoal`): published ports (DNAT from prerouting and output),
// masquerade, hairpin, isolation between bridges and no way out of internal networks. The whole
// table is rendered from state (pure) and replaced in one transaction (libnftables), so a reader never
// sees half a ruleset; other parts add chains through `ChainProvider`s (the service-VIP seam).
import { kernelNet } from '../engine/index.js';

export const TABLE = 'shoal';

export interface BridgeRules {
  bridge: string;
  subnet: string;
  internal: boolean;
  /** --ip-masq: outbound traffic leaves with the node's address. */
  masquerade: boolean;
}

export interface PortRule {
  proto: 'tcp' | 'udp';
  /** '' = every local address */
  hostIp: string;
  hostPort: number;
  containerIp: string;
  containerPort: number;
}

/**
 * Chains another part installs into the same table (e.g. service VIP load balancing). `chains` are
 * whole chain definitions; `hooks` are rules placed at the start of shoal's hook chains (jump to
 * your chains from there), by hook: prerouting, output (both nat, before published ports),
 * postrouting (nat), forward (filter).
 */
export interface ChainProvider {
  chains(): string[];
  hooks(): Partial<Record<'prerouting' | 'output' | 'postrouting' | 'forward', string[]>>;
}

export interface RulesetInput {
  bridges: BridgeRules[];
  ports: PortRule[];
  providers?: ChainProvider[];
}

const q = (s: string) => `"${s.replace(/[^A-Za-z0-9_.-]/g, '')}"`;

/** The table's text, with `delete` first so `nft -f` replaces it atomically. Pure. */
export function renderRuleset(input: RulesetInput): string {
  const providers = input.providers ?? [];
  const hook = (name: 'prerouting' | 'output' | 'postrouting' | 'forward') =>
    providers.flatMap((p) => p.hooks()[name] ?? []);
  const published = input.ports.map(
    (p) =>
      `    ${p.hostIp ? `ip daddr ${p.hostIp} ` : ''}${p.proto} dport ${p.hostPort} dnat to ${p.containerIp}:${p.containerPort}`,
  );
  const post: string[] = [];
  const forward: string[] = [];
  for (const b of input.bridges) {
    // localhost → a published port (route_localnet is on for the bridge), and hairpin (a container
    // to a published port on its own bridge): the reply must come back through us.
    post.push(`    oifname ${q(b.bridge)} ip saddr 127.0.0.0/8 masquerade`);
    post.push(`    oifname ${q(b.bridge)} ip saddr ${b.subnet} ct status dnat masquerade`);
    if (b.internal) {
      forward.push(`    iifname ${q(b.bridge)} oifname != ${q(b.bridge)} drop`);
      forward.push(`    oifname ${q(b.bridge)} iifname != ${q(b.bridge)} drop`);
      continue;
    }
    if (b.masquerade) post.push(`    oifname != ${q(b.bridge)} ip saddr ${b.subnet} masquerade`);
    const others = input.bridges.filter((o) => o.bridge !== b.bridge).map((o) => q(o.bridge));
    // Isolation: nothing from one bridge to another, except through a published port (DNAT).
    if (others.length)
      forward.push(`    iifname ${q(b.bridge)} oifname { ${others.join(', ')} } ct status & dnat == 0 drop`);
  }
  const lines = [
    `table ip ${TABLE}`,
    `delete table ip ${TABLE}`,
    `table ip ${TABLE} {`,
    '  chain prerouting {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    ...hook('prerouting').map((r) => `    ${r}`),
    '    fib daddr type local jump published',
    '  }',
    '  chain output {',
    '    type nat hook output priority -100; policy accept;',
    ...hook('output').map((r) => `    ${r}`),
    '    fib daddr type local jump published',
    '  }',
    '  chain published {',
    ...published,
    '  }',
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    ...hook('postrouting').map((r) => `    ${r}`),
    ...post,
    '  }',
    '  chain forward {',
    '    type filter hook forward priority filter; policy accept;',
    ...hook('forward').map((r) => `    ${r}`),
    ...forward,
    '  }',
    ...providers.flatMap((p) => p.chains()),
    '}',
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * Replaces shoal's table with the rendered one in one transaction. Through libnftables in the daemon
 * (the addon), not a forked `nft -f -`: a published port's start would otherwise wait for a process.
 */
export const installRuleset = (text: string): Promise<void> => kernelNet.nft(text);

/** Removes shoal's table (clean shutdown); absent is fine. */
export const removeTable = (): Promise<void> =>
  kernelNet.nft(`table ip ${TABLE}\ndelete table ip ${TABLE}\n`);
