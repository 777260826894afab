// A throwaway network of namespaces for load-balancer tests and benchmarks: a "node" namespace (where
// the rules go), backends answering their own name over HTTP and UDP, and clients. Every name carries a
// random prefix; `destroy` removes the namespaces (and with them every link, bridge and nftables table
// inside) and stops the servers it started, by pid.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';

const sh = (cmd: string) =>
  execFileSync('bash', ['-euo', 'pipefail', '-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'] });

// Answers "NAME SOURCE" to any HTTP request (TCP port) and any datagram (UDP port).
const SERVER = `
const [name, tcpPort, udpPort] = process.argv.slice(1);
const http = require('node:http');
const dgram = require('node:dgram');
const srv = http.createServer((req, res) => res.end(name + ' ' + req.socket.remoteAddress));
srv.keepAliveTimeout = 60000;
srv.listen(Number(tcpPort), '0.0.0.0', () => {
  const u = dgram.createSocket('udp4');
  u.on('message', (m, r) => u.send(name + ' ' + r.address, r.port, r.address));
  u.bind(Number(udpPort), '0.0.0.0', () => console.log('ready'));
});
`;

// N requests, each on a fresh connection (or socket, for UDP); prints a JSON array of answers or "ERR:code".
const CLIENT = `
const [mode, host, port, n] = process.argv.slice(1);
const http = require('node:http');
const dgram = require('node:dgram');
const one = () => new Promise((resolve) => {
  if (mode === 'udp') {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => { s.close(); resolve('ERR:timeout'); }, 1500);
    s.on('message', (m) => { clearTimeout(t); s.close(); resolve(m.toString()); });
    s.on('error', (e) => { clearTimeout(t); s.close(); resolve('ERR:' + e.code); });
    s.send('hi', Number(port), host);
  } else {
    const req = http.get({ host, port: Number(port), agent: false, timeout: 1500 }, (res) => {
      let b = ''; res.on('data', (d) => b += d); res.on('end', () => resolve(b));
    });
    req.on('timeout', () => { req.destroy(); resolve('ERR:timeout'); });
    req.on('error', (e) => resolve('ERR:' + e.code));
  }
});
(async () => { const out = []; for (let i = 0; i < Number(n); i++) out.push(await one()); console.log(JSON.stringify(out)); })();
`;

// One kept-alive HTTP connection: a request now, another each time a line arrives on stdin.
const KEEPER = `
const [host, port] = process.argv.slice(1);
const sock = require('node:net').connect(Number(port), host);
let buf = '';
const ask = () => sock.write('GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: keep-alive\\r\\n\\r\\n');
sock.on('connect', ask);
sock.on('data', (d) => {
  buf += d;
  const m = /\\r\\n\\r\\n/.exec(buf);
  const len = /content-length: (\\d+)/i.exec(buf);
  if (m && len && buf.length >= m.index + 4 + Number(len[1])) {
    console.log(buf.slice(m.index + 4, m.index + 4 + Number(len[1])));
    buf = '';
  }
});
sock.on('error', (e) => console.log('ERR:' + e.code));
sock.on('close', () => { console.log('CLOSED'); process.exit(0); });
process.stdin.on('data', ask);
process.stdin.on('end', () => sock.end());
`;

// One UDP socket (one source port, so one conntrack flow): a datagram now, another per stdin line.
const UDP_KEEPER = `
const [host, port] = process.argv.slice(1);
const s = require('node:dgram').createSocket('udp4');
const ask = () => s.send('hi', Number(port), host);
s.on('message', (m) => console.log(m.toString()));
s.bind(0, ask);
process.stdin.on('data', ask);
process.stdin.on('end', () => { s.close(); process.exit(0); });
`;

export const TCP_PORT = 8000;
export const UDP_PORT = 5300;

export interface Backend {
  name: string;
  netns: string;
  address: string;
}

export class NetBed {
  readonly prefix = `lb${randomBytes(3).toString('hex')}`;
  readonly node = `${this.prefix}n`;
  readonly client = `${this.prefix}c`;
  /** The node's address as the client sees it (published ports answer here). */
  readonly nodeAddress = '10.200.0.1';
  readonly clientAddress = '10.200.0.2';
  /** The node's address on the link to the "remote" backend (what masquerade turns sources into). */
  readonly remoteLinkAddress = '10.202.0.1';
  readonly bridgeAddress = '10.201.0.1';
  readonly bridgeSubnet = '10.201.0.0/24';
  /** On the node's bridge, routed back through the node: local backends. */
  readonly local: Backend[] = [];
  /** Reached over its own link, with no route back but through masquerade: plays a task on another node. */
  remote!: Backend;
  /** A client on the backends' bridge (hairpin). */
  readonly hairpinClient = `${this.prefix}h`;
  readonly hairpinAddress = '10.201.0.50';
  private readonly procs: ChildProcess[] = [];
  private readonly namespaces: string[] = [];

  ns(name: string) {
    return `--net=/run/netns/${name}`;
  }

  /** Runs a command in a namespace (nsenter, as the cluster harness does). */
  exec(netns: string, cmd: string[]): string {
    return execFileSync('nsenter', [this.ns(netns), '--', ...cmd], { encoding: 'utf8' });
  }

  private addNs(name: string) {
    sh(`ip netns add ${name} && ip -n ${name} link set lo up`);
    this.namespaces.push(name);
  }

  async create(localBackends = 2): Promise<void> {
    const p = this.prefix;
    this.addNs(this.node);
    sh(`ip netns exec ${this.node} sysctl -qw net.ipv4.ip_forward=1`);
    // Without br_netfilter's hooks on bridged frames (its default is on when the module is loaded), a reply
    // between two ports of one bridge never meets conntrack: the case hairpin masquerade exists for.
    sh(
      `ip netns exec ${this.node} sh -c '[ ! -e /proc/sys/net/bridge/bridge-nf-call-iptables ] || sysctl -qw net.bridge.bridge-nf-call-iptables=0'`,
    );
    // client <-> node
    this.addNs(this.client);
    sh(`ip -n ${this.node} link add ${p}nc type veth peer name eth0 netns ${this.client}
      ip -n ${this.node} addr add ${this.nodeAddress}/24 dev ${p}nc && ip -n ${this.node} link set ${p}nc up
      ip -n ${this.client} addr add ${this.clientAddress}/24 dev eth0 && ip -n ${this.client} link set eth0 up
      ip -n ${this.client} route add default via ${this.nodeAddress}`);
    // the node's bridge with the local backends and the hairpin client
    sh(`ip -n ${this.node} link add ${p}br type bridge && ip -n ${this.node} addr add ${this.bridgeAddress}/24 dev ${p}br
      ip -n ${this.node} link set ${p}br up`);
    const attach = (netns: string, address: string, i: number) => {
      this.addNs(netns);
      sh(`ip -n ${this.node} link add ${p}v${i} type veth peer name eth0 netns ${netns}
        ip -n ${this.node} link set ${p}v${i} master ${p}br up
        ip -n ${netns} addr add ${address}/24 dev eth0 && ip -n ${netns} link set eth0 up
        ip -n ${netns} route add default via ${this.bridgeAddress}`);
    };
    for (let i = 1; i <= localBackends; i++) {
      const b = { name: `local${i}`, netns: `${p}b${i}`, address: `10.201.0.${i + 1}` };
      attach(b.netns, b.address, i);
      this.local.push(b);
    }
    attach(this.hairpinClient, this.hairpinAddress, 9);
    // the "remote" backend: its own link, and no default route
    this.remote = { name: 'remote', netns: `${p}r`, address: '10.202.0.2' };
    this.addNs(this.remote.netns);
    sh(`ip -n ${this.node} link add ${p}nr type veth peer name eth0 netns ${this.remote.netns}
      ip -n ${this.node} addr add ${this.remoteLinkAddress}/24 dev ${p}nr && ip -n ${this.node} link set ${p}nr up
      ip -n ${this.remote.netns} addr add ${this.remote.address}/24 dev eth0 && ip -n ${this.remote.netns} link set eth0 up`);
    await Promise.all([...this.local, this.remote].map((b) => this.startServer(b)));
  }

  private startServer(b: Backend): Promise<void> {
    const child = spawn(
      'nsenter',
      [this.ns(b.netns), '--', process.execPath, '-e', SERVER, b.name, String(TCP_PORT), String(UDP_PORT)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    this.procs.push(child);
    return new Promise((resolve, reject) => {
      child.on('exit', (code) => reject(new Error(`backend ${b.name} exited (${code})`)));
      child.stdout!.once('data', () => resolve());
    });
  }

  /** N requests from a namespace (the client's by default), each a new connection. */
  requests(mode: 'http' | 'udp', host: string, port: number, n: number, from = this.client): string[] {
    const out = execFileSync(
      'nsenter',
      [this.ns(from), '--', process.execPath, '-e', CLIENT, mode, host, String(port), String(n)],
      {
        encoding: 'utf8',
      },
    );
    return JSON.parse(out.trim().split('\n').pop()!) as string[];
  }

  /** A kept-alive connection (or UDP socket) from the client: `next()` asks again on the same one. */
  keepAlive(
    host: string,
    port: number,
    mode: 'http' | 'udp' = 'http',
  ): { first: Promise<string>; next(): Promise<string>; close(): void } {
    const child = spawn(
      'nsenter',
      [
        this.ns(this.client),
        '--',
        process.execPath,
        '-e',
        mode === 'http' ? KEEPER : UDP_KEEPER,
        host,
        String(port),
      ],
      {
        stdio: ['pipe', 'pipe', 'inherit'],
      },
    );
    this.procs.push(child);
    const lines: string[] = [];
    const waiters: ((l: string) => void)[] = [];
    let rest = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      rest += d;
      const parts = rest.split('\n');
      rest = parts.pop()!;
      for (const l of parts) {
        const w = waiters.shift();
        if (w) w(l);
        else lines.push(l);
      }
    });
    const line = () => new Promise<string>((r) => (lines.length > 0 ? r(lines.shift()!) : waiters.push(r)));
    return {
      first: line(),
      next: () => {
        child.stdin!.write('\n');
        return line();
      },
      close: () => child.stdin!.end(),
    };
  }

  nft(args: string[]): string {
    return this.exec(this.node, ['nft', ...args]);
  }

  async destroy(): Promise<void> {
    for (const c of this.procs) {
      if (c.exitCode === null && c.pid !== undefined) {
        try {
          process.kill(c.pid, 'SIGKILL');
        } catch {}
      }
    }
    for (const n of this.namespaces.reverse()) {
      try {
        sh(`ip netns del ${n}`);
      } catch {}
    }
  }

  /** Namespaces of this bed still present (none after `destroy`). */
  leftovers(): string[] {
    const list = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    return list
      .split('\n')
      .map((l) => l.split(' ')[0])
      .filter((n) => n.startsWith(this.prefix));
  }
}
