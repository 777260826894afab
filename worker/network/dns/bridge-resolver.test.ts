// The bridge resolver on loopback: a container on two networks asks the resolver of its first one and is
// answered the names of both (docker's behaviour); a client that is no container there gets only that
// network's names.
import { Resolver } from 'node:dns/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { BridgeResolver } from './bridge-resolver.js';

const base = `127.54.${Math.floor(Math.random() * 250) + 1}`;
const port = 20000 + Math.floor(Math.random() * 20000);
const resolvers: BridgeResolver[] = [];
afterEach(async () => {
  await Promise.all(resolvers.splice(0).map((r) => r.close()));
});

function ask(server: string, from: string): Resolver {
  const r = new Resolver({ timeout: 2000, tries: 1 });
  r.setServers([`${server}:${port}`]);
  r.setLocalAddress(from);
  return r;
}

const codeOf = (p: Promise<unknown>) =>
  p.then(
    (v) => v,
    (e: NodeJS.ErrnoException) => e.code,
  );

describe('bridge resolver', () => {
  it("answers a container's names of every network it is on, first network first", async () => {
    const r = new BridgeResolver({ upstreams: [], port });
    resolvers.push(r);
    const front = { id: 'netA', name: 'front', gateway: `${base}.1`, bridge: 'x' };
    expect(await r.addressFor(front)).toBe(front.gateway);
    // app is on both (its address on front is where its queries come from); db and web only on back.
    r.register('netA', { containerId: 'app1', name: 'app', aliases: [], ip: `${base}.9` });
    r.register('netB', { containerId: 'app1', name: 'app', aliases: [], ip: '10.0.2.9' });
    r.register('netB', { containerId: 'db1', name: 'db', aliases: ['database'], ip: '10.0.2.10' });
    r.register('netA', { containerId: 'cache1', name: 'cache', aliases: [], ip: `${base}.12` });
    r.register('netB', { containerId: 'cache2', name: 'cache', aliases: [], ip: '10.0.2.30' });
    r.setCluster('netB', {
      services: [{ name: 'api', vip: '10.0.2.2', tasks: ['10.0.2.20'], aliases: [] }],
      containers: [],
    });
    const app = ask(front.gateway, `${base}.9`);
    expect(await app.resolve4('db')).toEqual(['10.0.2.10']);
    expect(await app.resolve4('database')).toEqual(['10.0.2.10']);
    expect(await app.resolve4('api')).toEqual(['10.0.2.2']);
    // A name on both networks: the first network's answer.
    expect(await app.resolve4('cache')).toEqual([`${base}.12`]);
    // Another client on front (not on back): back's names are not its to know.
    const stranger = ask(front.gateway, `${base}.8`);
    expect(await codeOf(stranger.resolve4('db'))).toBe('ENOTFOUND');
    // app leaves back: its names go with it.
    r.unregister('netB', 'app1');
    expect(await codeOf(app.resolve4('db'))).toBe('ENOTFOUND');
  });
});
