// Secrets and configs in the control API: docker's names, sizes, conflicts, labels-only updates, removal
// refused while in use; a refused call changes nothing (the applied index does not move); a secret's data
// is stored sealed (no plaintext in the store) and is never returned.
import { describe, expect, it } from 'vitest';
import { isShoalError, type ShoalError } from '../../common/errors.js';
import type { ServiceSpec } from '../../proto/gen/shoal/swarm/v1/specs.js';
import { DataKeyCipher, newDataKey } from '../secrets/index.js';
import { storeOnMemoryLog } from '../store/testkit.js';
import { ControlApi } from './controlapi.js';

function setup(withKey = true) {
  const { store } = storeOnMemoryLog('sync');
  const key = newDataKey();
  const cipher = new DataKeyCipher(key);
  const control = new ControlApi(store, undefined, () => 0.5, Date.now, withKey ? cipher : undefined);
  return { store, control, cipher };
}

async function refused(p: Promise<unknown> | (() => unknown)): Promise<ShoalError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    if (isShoalError(err)) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

const data = (s: string) => Buffer.from(s);

const serviceWith = (secretId: string, configId: string, name = 'web'): ServiceSpec =>
  ({
    annotations: { name, labels: {} },
    taskTemplate: {
      containerSpec: {
        image: 'busybox',
        secrets: secretId
          ? [{ secretId, secretName: 'db', file: { name: 'db', uid: '0', gid: '0', mode: 0o444 } }]
          : [],
        configs: configId
          ? [{ configId, configName: 'app', file: { name: '/app.conf', uid: '0', gid: '0', mode: 0o444 } }]
          : [],
      },
      networks: [],
    },
  }) as unknown as ServiceSpec;

describe('secrets and configs (control API)', () => {
  it('creates a secret sealed: no plaintext in the store, never returned, opens with the key', async () => {
    const { store, control, cipher } = setup();
    const s = await control.createSecret({ name: 'db', labels: { env: 'prod' }, data: data('hunter2') });
    expect(s.spec?.annotations).toEqual({ name: 'db', labels: { env: 'prod' } });
    expect(s.spec?.data.length).toBe(0);
    expect(s.sealed).toBeUndefined();
    const stored = store.view((tx) => tx.get('secret', s.id))!;
    expect(stored.spec?.data.length).toBe(0);
    expect(Buffer.from(stored.sealed!.ciphertext).includes(data('hunter2'))).toBe(false);
    expect(cipher.open(s.id, stored.sealed!).toString()).toBe('hunter2');
    // Bound to its id: the same ciphertext does not open as another secret.
    expect(() => cipher.open('other', stored.sealed!)).toThrow(/does not authenticate/);
    // The store itself refuses plaintext, whoever proposes it.
    const e = await refused(
      store.update((tx) =>
        tx.create('secret', {
          ...stored,
          id: 'x',
          meta: undefined,
          spec: { ...stored.spec!, annotations: { name: 'x', labels: {} }, data: data('p') },
        }),
      ),
    );
    expect(e.field).toBe('spec.data');
    expect(control.listSecrets().map((x) => [x.spec?.annotations?.name, x.sealed])).toEqual([
      ['db', undefined],
    ]);
  });

  it("refuses bad names, sizes and duplicates with docker's messages, changing nothing", async () => {
    const { store, control } = setup();
    await control.createSecret({ name: 'db', labels: {}, data: data('x') });
    await control.createConfig({ name: 'app', labels: {}, data: data('k: v') });
    const before = store.appliedIndex;
    const cases: [Promise<unknown>, RegExp, string][] = [
      [control.createSecret({ name: '', labels: {}, data: data('x') }), /^name must be provided$/, 'Name'],
      [
        control.createSecret({ name: '-db', labels: {}, data: data('x') }),
        /^invalid name, only 64 \[a-zA-Z0-9-_.\] characters allowed, and the start and end character must be \[a-zA-Z0-9\]$/,
        'Name',
      ],
      [control.createSecret({ name: 'a'.repeat(65), labels: {}, data: data('x') }), /^invalid name/, 'Name'],
      [control.createConfig({ name: 'a b', labels: {}, data: data('x') }), /^invalid name/, 'Name'],
      [
        control.createSecret({ name: 'empty', labels: {}, data: data('') }),
        /^secret data must be larger than 0 and less than 512000 bytes$/,
        'Data',
      ],
      [
        control.createSecret({ name: 'big', labels: {}, data: Buffer.alloc(500 * 1024) }),
        /^secret data must be larger than 0 and less than 512000 bytes$/,
        'Data',
      ],
      [
        control.createConfig({ name: 'big', labels: {}, data: Buffer.alloc(1000 * 1024) }),
        /^config data must be larger than 0 and less than 1024000 bytes$/,
        'Data',
      ],
      [
        control.createSecret({ name: 'db', labels: {}, data: data('y') }),
        /^secret db already exists$/,
        'Name',
      ],
      [
        control.createConfig({ name: 'app', labels: {}, data: data('y') }),
        /^config app already exists$/,
        'Name',
      ],
      [
        control.createConfig({ name: 'tpl', labels: {}, data: data('y'), templating: 'golang' }),
        /templating .*not supported/,
        'Templating',
      ],
    ];
    for (const [p, message, field] of cases) {
      const e = await refused(p);
      expect(e.message).toMatch(message);
      expect(e.field).toBe(field);
    }
    expect(store.appliedIndex).toBe(before);
    // The largest sizes docker allows are accepted.
    await control.createSecret({ name: 'max', labels: {}, data: Buffer.alloc(500 * 1024 - 1, 1) });
    await control.createConfig({ name: 'max', labels: {}, data: Buffer.alloc(1000 * 1024 - 1, 1) });
    expect(
      control
        .listSecrets()
        .map((s) => s.spec?.annotations?.name)
        .sort(),
    ).toEqual(['db', 'max']);
  });

  it('a manager without the data key refuses secrets (configs still work)', async () => {
    const { control } = setup(false);
    expect((await refused(control.createSecret({ name: 'db', labels: {}, data: data('x') }))).kind).toBe(
      'unavailable',
    );
    await control.createConfig({ name: 'app', labels: {}, data: data('x') });
  });

  it('looks up by id, name and id prefix; filters by id, name, names and label', async () => {
    const { control } = setup();
    const a = await control.createSecret({ name: 'alpha', labels: { t: '1' }, data: data('x') });
    await control.createSecret({ name: 'alphabet', labels: { t: '2' }, data: data('x') });
    expect(control.getSecret(a.id).id).toBe(a.id);
    expect(control.getSecret('alpha').id).toBe(a.id);
    expect(control.getSecret(a.id.slice(0, 4)).id).toBe(a.id); // ids id1, id2: a prefix of one
    const missing = await refused(() => control.getSecret('nope'));
    expect([missing.kind, missing.message]).toEqual(['not_found', 'secret nope not found']);
    const names = (f: Record<string, string[]>) =>
      control
        .listSecrets(f)
        .map((s) => s.spec?.annotations?.name)
        .sort();
    expect(names({ name: ['alpha'] })).toEqual(['alpha', 'alphabet']);
    expect(names({ names: ['alpha'] })).toEqual(['alpha']);
    expect(names({ label: ['t=2'] })).toEqual(['alphabet']);
    expect(names({ label: ['t'] })).toEqual(['alpha', 'alphabet']);
    expect((await refused(() => control.listSecrets({ driver: ['x'] }))).message).toBe(
      "invalid filter 'driver'",
    );
  });

  it('updates only labels: another name or other data is refused, identical data accepted', async () => {
    const { store, control } = setup();
    const s = await control.createSecret({ name: 'db', labels: { a: '1' }, data: data('pw') });
    const c = await control.createConfig({ name: 'app', labels: {}, data: data('k: v') });
    const v = s.meta!.version;
    const before = store.appliedIndex;
    for (const p of [
      control.updateSecret('db', v, { name: 'db', labels: {}, data: data('other') }),
      control.updateSecret('db', v, { name: 'renamed', labels: {} }),
      control.updateConfig('app', c.meta!.version, { name: 'app', labels: {}, data: data('k: w') }),
    ]) {
      const e = await refused(p);
      expect([e.kind, e.message]).toEqual(['invalid_argument', 'only updates to Labels are allowed']);
    }
    const stale = await refused(control.updateSecret('db', v - 1, { name: 'db', labels: {} }));
    expect([stale.kind, stale.message]).toEqual(['conflict', 'update out of sequence']);
    expect(store.appliedIndex).toBe(before);
    // What `stack deploy` sends again: the same data, new labels.
    const next = await control.updateSecret('db', v, { name: 'db', labels: { b: '2' }, data: data('pw') });
    expect(next.spec?.annotations?.labels).toEqual({ b: '2' });
    const nc = await control.updateConfig('app', c.meta!.version, { name: 'app', labels: { x: 'y' } });
    expect(Buffer.from(nc.spec!.data).toString()).toBe('k: v');
  });

  it('refuses removal while a service uses it, naming the services; removes once unused', async () => {
    const { store, control } = setup();
    const s = await control.createSecret({ name: 'db', labels: {}, data: data('pw') });
    const c = await control.createConfig({ name: 'app', labels: {}, data: data('k: v') });
    await control.createService(serviceWith(s.id, c.id, 'web'));
    await control.createService(serviceWith(s.id, '', 'api'));
    const before = store.appliedIndex;
    const e = await refused(control.removeSecret('db'));
    expect(e.message).toBe("secret 'db' is in use by the following services: web, api");
    const ec = await refused(control.removeConfig(c.id));
    expect(ec.message).toBe("config 'app' is in use by the following service: web");
    expect(store.appliedIndex).toBe(before);
    await control.removeService('web');
    await control.removeService('api');
    await control.removeSecret('db');
    await control.removeConfig('app');
    expect(control.listSecrets()).toEqual([]);
    expect((await refused(control.removeSecret('db'))).kind).toBe('not_found');
  });

  it('refuses two secrets (or configs) of a service at one target', async () => {
    const { control } = setup();
    const s = await control.createSecret({ name: 'db', labels: {}, data: data('pw') });
    const spec = serviceWith(s.id, '');
    const ref = spec.taskTemplate!.containerSpec!.secrets[0]!;
    spec.taskTemplate!.containerSpec!.secrets.push({ ...ref, secretName: 'db2' });
    const e = await refused(control.createService(spec));
    expect(e.message).toBe("secret references 'db' and 'db2' have a conflicting target: 'db'");
  });
});
