// One node's networking with real kernel objects: shoald runs inside a network namespace this test
// makes (entered with nsenter --net only), next to an "outside" namespace joined by a veth; nothing
// touches the host's namespace. Published ports, user bridges, the files docker writes, masquerade,
// --internal, isolation, bad input, and that nothing is left behind.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanup,
  type Daemon,
  docker,
  REPO,
  ROOTFS,
  shoal,
  startShoald,
  stopShoald,
} from '../daemon/harness.js';

const TARBALL = join(REPO, 'test/fixtures/out/images/busybox.docker.tar');

const TAG = `nl${process.pid % 100000}`;
const NS = `${TAG}d`;
const OUT = `${TAG}o`;
const NSPATH = `/run/netns/${NS}`;
const NET = `10.${200 + (process.pid % 50)}`;
const BIP = `${NET}.0.1/24`;
const UPLINK = `${NET}.250.1`;
const OUTSIDE = `${NET}.250.2`;

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' });
const inNs = (ns: string, cmd: string, args: string[]) =>
  execFileSync('nsenter', [`--net=/run/netns/${ns}`, '--', cmd, ...args], {
    encoding: 'utf8',
    timeout: 15000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
const tryInNs = (ns: string, cmd: string, args: string[]) => {
  try {
    return { ok: true, out: inNs(ns, cmd, args) };
  } catch (e) {
    return { ok: false, out: String((e as { stdout?: string }).stdout ?? '') };
  }
};

let d: Daemon | undefined;
let outsideServer: ReturnType<typeof spawn> | undefined;

async function run(args: string[]) {
  const r = await shoal(d!, args);
  if (r.code !== 0) throw new Error(`shoal ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

const exec = (c: string, cmd: string[]) => shoal(d!, ['exec', c, ...cmd]);

/**
 * An HTTP GET from inside a container with busybox nc (Debian's static busybox wget segfaults on
 * these machines, in containers and on the host alike); the body, or null when nothing answered.
 */
async function httpGet(c: string, host: string, port: number, path: string): Promise<string | null> {
  const r = await exec(c, [
    'sh',
    '-c',
    `printf 'GET ${path} HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${host} ${port}`,
  ]);
  const i = r.stdout.indexOf('\r\n\r\n');
  return r.code === 0 && i >= 0 ? r.stdout.slice(i + 4) : null;
}

beforeAll(async () => {
  for (const ns of [NS, OUT]) {
    sh('ip', ['netns', 'add', ns]);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }
  sh('ip', ['-n', NS, 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'out0', 'netns', OUT]);
  sh('ip', ['-n', NS, 'addr', 'add', `${UPLINK}/24`, 'dev', 'up0']);
  sh('ip', ['-n', OUT, 'addr', 'add', `${OUTSIDE}/24`, 'dev', 'out0']);
  sh('ip', ['-n', NS, 'link', 'set', 'up0', 'up']);
  sh('ip', ['-n', OUT, 'link', 'set', 'out0', 'up']);
  // "The outside": an HTTP server answering with the address it sees the client at.
  outsideServer = spawn('nsenter', [
    `--net=/run/netns/${OUT}`,
    '--',
    process.execPath,
    '-e',
    `require('http').createServer((q,s)=>s.end('from '+q.socket.remoteAddress)).listen(9000,'${OUTSIDE}')`,
  ]);
  d = await startShoald(undefined, { netns: NSPATH, args: ['--bip', BIP] });
}, 60000);

afterAll(async () => {
  await cleanup(d);
  outsideServer?.kill('SIGKILL');
  for (const ns of [NS, OUT]) {
    try {
      sh('ip', ['netns', 'del', ns]);
    } catch {}
  }
}, 60000);

describe('one node', () => {
  it('-p reaches a busybox httpd from the daemon namespace and from another namespace', async () => {
    await run([
      'run',
      '-d',
      '--name',
      'web',
      '-p',
      '8080:80',
      '--rootfs',
      ROOTFS,
      'httpd',
      '-f',
      '-p',
      '80',
      '-h',
      '/etc',
    ]);
    expect(inNs(NS, 'curl', ['-sf', '-m', '5', 'http://127.0.0.1:8080/hostname']).trim()).toMatch(
      /^[0-9a-f]{12}$/,
    );
    expect(inNs(OUT, 'curl', ['-sf', '-m', '5', `http://${UPLINK}:8080/hostname`]).trim()).toMatch(
      /^[0-9a-f]{12}$/,
    );
    expect((await run(['port', 'web'])).trim()).toBe('80/tcp -> 0.0.0.0:8080');
    const insp = JSON.parse(await run(['inspect', 'web']))[0];
    expect(insp.HostConfig.PortBindings).toEqual({ '80/tcp': [{ HostIp: '', HostPort: '8080' }] });
    expect(insp.NetworkSettings.Ports['80/tcp']).toEqual([{ HostIp: '0.0.0.0', HostPort: '8080' }]);
    expect(insp.NetworkSettings.IPAddress).toMatch(new RegExp(`^${NET}\\.0\\.`));
    // -P with --expose: an ephemeral host port
    await run([
      'run',
      '-d',
      '--name',
      'pall',
      '--expose',
      '81',
      '-P',
      '--rootfs',
      ROOTFS,
      'httpd',
      '-f',
      '-p',
      '81',
      '-h',
      '/etc',
    ]);
    const eph = (await run(['port', 'pall', '81'])).trim();
    expect(eph).toMatch(/^0\.0\.0\.0:\d+$/);
    expect(Number(eph.split(':')[1])).toBeGreaterThanOrEqual(32768);
    expect(
      inNs(NS, 'curl', ['-sf', '-m', '5', `http://127.0.0.1:${eph.split(':')[1]}/hostname`]).trim(),
    ).toMatch(/^[0-9a-f]{12}$/);
    await run(['rm', '-f', 'pall']);
    // hairpin: another container reaches the published port through the gateway
    await run(['run', '-d', '--name', 'cli', '--rootfs', ROOTFS, 'sleep', '300']);
    expect((await httpGet('cli', `${NET}.0.1`, 8080, '/hostname'))?.trim()).toBe(insp.Config.Hostname);
  }, 60000);

  it('refuses a port in use, a bad -p and an unknown network, and leaves nothing', async () => {
    const before = (await run(['ps', '-aq'])).split('\n').length;
    const inUse = await shoal(d!, [
      'run',
      '-d',
      '--name',
      'web2',
      '-p',
      '8080:80',
      '--rootfs',
      ROOTFS,
      'httpd',
      '-f',
    ]);
    expect(inUse.code).not.toBe(0);
    expect(inUse.stderr).toContain('Bind for 0.0.0.0:8080 failed: port is already allocated');
    await shoal(d!, ['rm', '-f', 'web2']);
    const badP = await shoal(d!, ['run', '-d', '-p', '80:99999', '--rootfs', ROOTFS, 'true']);
    expect(badP.code).not.toBe(0);
    expect(badP.stderr).toContain('invalid container port 99999');
    const unknown = await shoal(d!, ['run', '-d', '--network', 'nope', '--rootfs', ROOTFS, 'true']);
    expect(unknown.stderr).toContain('network nope not found');
    expect((await run(['ps', '-aq'])).split('\n').length).toBe(before);
  }, 60000);

  it('writes /etc/hosts, /etc/hostname and resolv.conf as docker does (host network too)', async () => {
    await run([
      'run',
      '-d',
      '--name',
      'files',
      '--hostname',
      'box',
      '--add-host',
      'db:10.9.9.9',
      '--add-host',
      'gw:host-gateway',
      '--dns',
      '10.1.1.1',
      '--dns-search',
      'example.test',
      '--dns-option',
      'ndots:2',
      '--rootfs',
      ROOTFS,
      'sleep',
      '300',
    ]);
    const hosts = (await exec('files', ['cat', '/etc/hosts'])).stdout;
    expect(hosts).toContain('127.0.0.1\tlocalhost');
    expect(hosts).toContain('10.9.9.9\tdb');
    expect(hosts).toContain(`${NET}.0.1\tgw`);
    expect(hosts).toMatch(new RegExp(`${NET}\\.0\\.\\d+\\tbox\\n$`));
    expect((await exec('files', ['cat', '/etc/hostname'])).stdout).toBe('box\n');
    const resolv = (await exec('files', ['cat', '/etc/resolv.conf'])).stdout;
    expect(resolv).toContain('nameserver 10.1.1.1');
    expect(resolv).toContain('search example.test');
    expect(resolv).toContain('options ndots:2');
    await run(['run', '-d', '--name', 'hostnet', '--network', 'host', '--rootfs', ROOTFS, 'sleep', '300']);
    expect((await exec('hostnet', ['cat', '/etc/hosts'])).stdout.length).toBeGreaterThan(0);
    expect((await exec('hostnet', ['cat', '/etc/resolv.conf'])).stdout).toContain('# Generated by shoal');
    await shoal(d!, ['rm', '-f', 'files', 'hostnet']);
  }, 60000);

  it('masquerades to the outside namespace, and nothing else is reachable', async () => {
    expect(await httpGet('cli', OUTSIDE, 9000, '/')).toBe(`from ${UPLINK}`);
    expect(await httpGet('cli', '192.0.2.1', 80, '/')).toBeNull();
  }, 60000);

  it('user bridges: containers talk by IP and by name (embedded DNS); --ip; --internal has no way out; two bridges are isolated', async () => {
    expect((await shoal(d!, ['network', 'create', '--subnet', `${NET}.10.0/24`, 'front'])).code).toBe(0);
    await run(['network', 'create', '--subnet', `${NET}.11.0/24`, 'back']);
    await run(['network', 'create', '--internal', '--subnet', `${NET}.12.0/24`, 'sealed']);
    // bad input changes nothing
    const overlap = await shoal(d!, ['network', 'create', '--subnet', `${NET}.10.128/25`, 'clash']);
    expect(overlap.stderr).toContain('overlaps');
    const badSubnet = await shoal(d!, ['network', 'create', '--subnet', '10.1.2.3/33', 'bad']);
    expect(badSubnet.stderr).toContain('invalid subnet');
    const dup = await shoal(d!, ['network', 'create', 'front']);
    expect(dup.stderr).toContain('already exists');
    expect((await run(['network', 'ls', '--format', '{{.Name}}'])).split('\n').sort()).toEqual([
      'back',
      'bridge',
      'front',
      'host',
      'none',
      'sealed',
    ]);
    await run([
      'run',
      '-d',
      '--name',
      'a1',
      '--network',
      'front',
      '--ip',
      `${NET}.10.50`,
      '--network-alias',
      'alpha',
      '--rootfs',
      ROOTFS,
      'httpd',
      '-f',
      '-p',
      '80',
      '-h',
      '/etc',
    ]);
    await run(['run', '-d', '--name', 'a2', '--network', 'front', '--rootfs', ROOTFS, 'sleep', '300']);
    await run(['run', '-d', '--name', 'b1', '--network', 'back', '--rootfs', ROOTFS, 'sleep', '300']);
    await run(['run', '-d', '--name', 's1', '--network', 'sealed', '--rootfs', ROOTFS, 'sleep', '300']);
    const a1 = JSON.parse(await run(['inspect', 'a1']))[0];
    expect(a1.NetworkSettings.Networks.front.IPAddress).toBe(`${NET}.10.50`);
    expect(a1.NetworkSettings.Networks.front.Aliases).toEqual(['alpha']);
    expect((await httpGet('a2', `${NET}.10.50`, 80, '/hostname'))?.trim()).toBe(a1.Config.Hostname);
    expect(await httpGet('b1', `${NET}.10.50`, 80, '/hostname')).toBeNull(); // isolated bridges
    // The embedded resolver (on the network's gateway): names and aliases of the network's containers;
    // unknown names NXDOMAIN at once (forwarding is off in tests); other networks' names unknown.
    expect((await exec('a2', ['cat', '/etc/resolv.conf'])).stdout).toContain(`nameserver ${NET}.10.1`);
    expect((await httpGet('a2', 'a1', 80, '/hostname'))?.trim()).toBe(a1.Config.Hostname);
    expect((await httpGet('a2', 'alpha', 80, '/hostname'))?.trim()).toBe(a1.Config.Hostname);
    const found = await exec('a2', ['nslookup', 'a1']);
    expect(found.stdout).toContain(`${NET}.10.50`);
    const unknown = await exec('a2', ['nslookup', 'nosuchname']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stdout + unknown.stderr).toMatch(/NXDOMAIN|can't find/);
    expect((await exec('b1', ['nslookup', 'a1'])).code).not.toBe(0);
    expect(await httpGet('s1', OUTSIDE, 9000, '/')).toBeNull(); // --internal: no way out
    expect(await httpGet('s1', `${NET}.0.1`, 8080, '/hostname')).toBeNull();
    const insp = JSON.parse(await run(['network', 'inspect', 'front']))[0];
    expect(Object.values(insp.Containers).map((c) => (c as { IPv4Address: string }).IPv4Address)).toContain(
      `${NET}.10.50/24`,
    );
    // network connect: a running container gets a second endpoint (eth1) at once; disconnect takes it away
    const b1 = JSON.parse(await run(['inspect', 'b1']))[0];
    const b1ip = b1.NetworkSettings.Networks.back.IPAddress as string;
    await run([
      'run',
      '-d',
      '--name',
      'b2',
      '--network',
      'back',
      '--rootfs',
      ROOTFS,
      'httpd',
      '-f',
      '-p',
      '80',
      '-h',
      '/etc',
    ]);
    const b2ip = JSON.parse(await run(['inspect', 'b2']))[0].NetworkSettings.Networks.back
      .IPAddress as string;
    expect(b1ip).not.toBe(b2ip);
    expect(await httpGet('a2', b2ip, 80, '/hostname')).toBeNull();
    await run(['network', 'connect', 'back', 'a2']);
    expect((await exec('a2', ['ip', '-o', 'addr', 'show', 'eth1'])).stdout).toContain(`${NET}.11.`);
    expect(await httpGet('a2', b2ip, 80, '/hostname')).not.toBeNull();
    await run(['network', 'disconnect', 'back', 'a2']);
    expect(await httpGet('a2', b2ip, 80, '/hostname')).toBeNull();
    const notOn = await shoal(d!, ['network', 'disconnect', 'back', 'a2']);
    expect(notOn.stderr).toContain('is not connected to network back');
    await run(['rm', '-f', 'b2']);
    const inUse = await shoal(d!, ['network', 'rm', 'front']);
    expect(inUse.stderr).toContain('has active endpoints');
    await run(['rm', '-f', 'a1', 'a2', 'b1', 's1']);
    await run(['network', 'rm', 'front', 'back', 'sealed']);
    await run(['network', 'create', '--label', 'tmp=1', 'spare']);
    expect(await run(['network', 'prune', '-f', '--filter', 'label=tmp=1'])).toContain('spare');
    expect((await shoal(d!, ['network', 'inspect', 'spare'])).stderr).toContain('network spare not found');
    expect((await shoal(d!, ['network', 'rm', 'bridge'])).stderr).toContain('pre-defined network');
  }, 120000);

  it('the docker CLI: network create/ls/inspect/rm and run -p', async () => {
    const c = await docker(d!, ['network', 'create', '--subnet', `${NET}.20.0/24`, '--label', 'k=v', 'dnet']);
    expect(c.code).toBe(0);
    expect((await docker(d!, ['network', 'ls'])).stdout).toContain('dnet');
    const i = JSON.parse((await docker(d!, ['network', 'inspect', 'dnet'])).stdout)[0];
    expect(i.IPAM.Config[0].Subnet).toBe(`${NET}.20.0/24`);
    expect(i.Labels).toEqual({ k: 'v' });
    expect((await docker(d!, ['network', 'rm', 'dnet'])).code).toBe(0);
    expect((await docker(d!, ['load', '-i', TARBALL])).stdout).toContain('Loaded image: busybox:latest');
    const r = await docker(d!, [
      'run',
      '-d',
      '--pull',
      'never',
      '--name',
      'dweb',
      '-p',
      '127.0.0.1:8090:80',
      'busybox',
      'httpd',
      '-f',
      '-p',
      '80',
      '-h',
      '/etc',
    ]);
    expect(r.stderr).toBe('');
    expect(inNs(NS, 'curl', ['-sf', '-m', '5', 'http://127.0.0.1:8090/hostname']).trim()).toMatch(
      /^[0-9a-f]{12}$/,
    );
    expect((await docker(d!, ['port', 'dweb'])).stdout).toContain('80/tcp -> 127.0.0.1:8090');
    // only 127.0.0.1 was published: the uplink address does not answer
    expect(tryInNs(OUT, 'curl', ['-sf', '-m', '3', `http://${UPLINK}:8090/hostname`]).ok).toBe(false);
    expect((await docker(d!, ['rm', '-f', 'dweb'])).code).toBe(0);
  }, 60000);

  it('keeps addresses and ports across a shoald crash (live restore); exits release the sandbox', async () => {
    const before = JSON.parse(await run(['inspect', 'web']))[0].NetworkSettings.IPAddress;
    await run(['run', '-d', '--name', 'short', '--rootfs', ROOTFS, 'sh', '-c', 'sleep 1']);
    await run(['run', '-d', '--name', 'victim', '--rootfs', ROOTFS, 'sleep', '300']);
    const victim = JSON.parse(await run(['inspect', 'victim']))[0];
    const victimVeth = victim.Id.slice(0, 8);
    const victimPid = victim.State.Pid as number;
    expect(victimPid).toBeGreaterThan(0);
    await stopShoald(d!, 'SIGKILL');
    // while shoald is away: one container ends on its own, one is killed
    process.kill(victimPid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 1500));
    d = await startShoald(d!.dir, d!.opts);
    expect(JSON.parse(await run(['inspect', 'web']))[0].NetworkSettings.IPAddress).toBe(before);
    expect(inNs(NS, 'curl', ['-sf', '-m', '5', 'http://127.0.0.1:8080/hostname']).trim()).toMatch(
      /^[0-9a-f]{12}$/,
    );
    expect(await httpGet('cli', `${NET}.0.1`, 8080, '/hostname')).not.toBeNull();
    // the container that ended on its own has no veth any more
    const short = JSON.parse(await run(['inspect', 'short']))[0];
    expect(short.State.Running).toBe(false);
    expect(inNs(NS, 'ip', ['-o', 'link'])).not.toContain(`shv${short.Id.slice(0, 8)}`);
    expect(inNs(NS, 'ip', ['-o', 'link'])).not.toContain(`shv${victimVeth}`);
    await run(['rm', '-f', 'short', 'victim']);
  }, 90000);

  it('leaves no veth, bridge, netns file or nftables table after rm and daemon stop', async () => {
    await run(['rm', '-f', 'web', 'cli']);
    const links = () => inNs(NS, 'ip', ['-o', 'link', 'show']);
    expect(links()).not.toMatch(/shv|shbr-/);
    expect(readdirSync(`${d!.execRoot}/netns`)).toEqual([]);
    await stopShoald(d!);
    expect(links()).not.toMatch(/shoal0|shv|shbr-/);
    expect(tryInNs(NS, 'nft', ['list', 'table', 'ip', 'shoal']).ok).toBe(false);
    expect(existsSync(`${d!.execRoot}/netns`) ? readdirSync(`${d!.execRoot}/netns`) : []).toEqual([]);
  }, 60000);
});
