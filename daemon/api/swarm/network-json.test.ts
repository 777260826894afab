// Swarm networks' JSON against the recorded Docker traces: the CLI's create bodies → the spec the control
// API allocates → what dockerd answered to inspect/ls, and a task's NetworksAttachments.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ControlApi, predefinedIngress } from '../../../manager/controlapi/index.js';
import { makeCluster, storeOnMemoryLog } from '../../../manager/store/testkit.js';
import { Task } from '../../../proto/gen/shoal/swarm/v1/objects.js';
import { TRACES } from '../../../test/traces.js';
import { networkCreateSchema, validateBody } from '../schemas.js';
import { isSwarmCreate, networkJson, networkSpecFromJson } from './network-json.js';
import { swarmNetworkJson, taskJson } from './translate.js';

// biome-ignore lint/suspicious/noExplicitAny: recorded JSON, read field by field
type J = any;
type Exchange = { method: string; path: string; requestBody: J; responseBody: J };
const trace = (name: string): Exchange[] => JSON.parse(readFileSync(`${TRACES}/${name}.json`, 'utf8'));
const find = (name: string, method: string, path: RegExp) => {
  const e = trace(name).find((x) => x.method === method && path.test(x.path));
  if (!e) throw new Error(`${name}: no ${method} ${path}`);
  return e;
};
const noTimes = (o: J) => ({ ...o, Created: undefined, Id: undefined });

async function control() {
  const { store } = storeOnMemoryLog('sync');
  const cluster = makeCluster('c1');
  await store.update((tx) => {
    tx.create('cluster', cluster);
    tx.create('network', predefinedIngress('ingress0', cluster));
  });
  return new ControlApi(store);
}

describe('swarm network JSON', () => {
  it('create bodies of the docker CLI → inspect answers as dockerd (ingress, appnet, appnet2)', async () => {
    const c = await control();
    const plain = find('network-create-overlay', 'POST', /\/networks\/create$/).requestBody;
    const attachable = find('network-create-overlay-attachable', 'POST', /\/networks\/create$/).requestBody;
    // The schema the route checks first accepts what the CLI sends (ConfigFrom null and all).
    expect(validateBody(networkCreateSchema, plain)).toBe(plain);
    expect(validateBody(networkCreateSchema, attachable)).toBe(attachable);
    expect(isSwarmCreate(plain)).toBe(true);
    expect(isSwarmCreate({ Name: 'b', Driver: 'bridge' })).toBe(false);
    const a = await c.createNetwork(networkSpecFromJson(plain));
    const b = await c.createNetwork(networkSpecFromJson(attachable));
    const ls = find('network-ls', 'GET', /\/networks$/).responseBody as J[];
    const want = (name: string) => noTimes(ls.find((n) => n.Name === name));
    expect(noTimes(networkJson(c.getNetwork('ingress')))).toEqual(want('ingress'));
    expect(noTimes(networkJson(a))).toEqual(want('appnet'));
    // VNI 4098 in both: the next free one after appnet's.
    expect(noTimes(networkJson(b))).toEqual({
      ...want('appnet2'),
      Options: { 'com.docker.network.driver.overlay.vxlanid_list': '4098' },
    });
    expect(networkJson(a).Created).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(noTimes(networkJson(a))).toEqual(
      noTimes(find('network-inspect', 'GET', /\/networks\/appnet$/).responseBody),
    );
  });

  it("a task's NetworksAttachments carry the network as the swarm API shows it", async () => {
    const c = await control();
    const tasks = find('node-ps', 'GET', /\/tasks$/).responseBody as J[];
    const recorded = tasks.find((t) => t.NetworksAttachments)!.NetworksAttachments[0];
    const ingress = c.getNetwork('ingress');
    const t = taskJson(
      Task.fromPartial({
        id: 't1',
        networks: [{ network: ingress, addresses: ['10.0.0.21/24'] }],
      }),
    ) as J;
    const strip = (n: J) => ({
      ...n,
      ID: undefined,
      Version: undefined,
      CreatedAt: undefined,
      UpdatedAt: undefined,
    });
    expect(t.NetworksAttachments[0].Addresses).toEqual(recorded.Addresses);
    expect(strip(t.NetworksAttachments[0].Network)).toEqual(strip(recorded.Network));
    expect(strip(swarmNetworkJson(ingress))).toEqual(strip(recorded.Network));
  });

  it('bad create bodies name the JSON field', () => {
    expect(() => networkSpecFromJson({ Name: 'x', Scope: 'local', Driver: 'overlay' })).toThrow(/^Scope: /);
    expect(() => networkSpecFromJson({ Name: 'x', ConfigOnly: true })).toThrow(/^ConfigOnly: /);
    expect(() => networkSpecFromJson({ Name: 'x', IPAM: { Config: [{ Subnet: 7 }] } })).toThrow(
      /IPAM\.Config\[0\]\.Subnet/,
    );
  });
});
