// Secrets and configs against the recorded traces: the CLI's create bodies read as docker reads them, and
// the answers of inspect and ls field for field as dockerd 20.10 gave them (times apart, ms precision).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Config, Secret } from '../../../proto/gen/shoal/swarm/v1/objects.js';
import { TRACES } from '../../../test/traces.js';
import { configJson, dataSpecFromJson, secretJson } from './data-routes.js';

// biome-ignore lint/suspicious/noExplicitAny: recorded JSON, read field by field
type J = any;
const exchange = (name: string, method: string, path: RegExp): J => {
  const all = JSON.parse(readFileSync(`${TRACES}/${name}.json`, 'utf8')) as J[];
  const e = all.find((x) => x.method === method && path.test(x.path));
  if (!e) throw new Error(`${name}: no ${method} ${path}`);
  return e;
};
const ms = (t: string) => Math.floor(Date.parse(t));
const trimTimes = (o: J) => ({
  ...o,
  CreatedAt: o.CreatedAt.slice(0, 23),
  UpdatedAt: o.UpdatedAt.slice(0, 23),
});

describe('secrets and configs on the wire', () => {
  it('reads the create bodies the docker CLI sends', () => {
    const s = dataSpecFromJson(
      'secret',
      exchange('secret-create-labels', 'POST', /secrets\/create$/).requestBody,
    );
    expect(s).toEqual({ name: 's2', labels: { env: 'prod' }, data: Buffer.from('pw') });
    const c = dataSpecFromJson('config', exchange('config-create', 'POST', /configs\/create$/).requestBody);
    expect(c).toEqual({ name: 'c1', labels: {}, data: Buffer.from('key: value\n') });
  });

  it('refuses a driver, and data that is not base64, naming the field', () => {
    expect(() => dataSpecFromJson('secret', { Name: 'x', Driver: { Name: 'vault' } })).toThrow(
      /^Driver: secret drivers \(--driver vault\) are not supported by shoal/,
    );
    expect(() => dataSpecFromJson('secret', { Name: 'x', Data: 'not base64!' })).toThrow(
      /^Data: must be base64/,
    );
    expect(() => dataSpecFromJson('config', { Name: 'x', Data: 'YWJj' + 'Z' })).toThrow(/^Data:/);
  });

  it('answers secret and config inspect as dockerd (a secret without its data, a config with it)', () => {
    const rs = exchange('secret-inspect', 'GET', /secrets\/s1$/).responseBody;
    const s = Secret.fromPartial({
      id: rs.ID,
      meta: { version: rs.Version.Index, createdAt: ms(rs.CreatedAt), updatedAt: ms(rs.UpdatedAt) },
      spec: { annotations: { name: 's1', labels: {} } },
      sealed: { keyId: 'k', nonce: Buffer.alloc(12), ciphertext: Buffer.from('sealed') },
    });
    expect(trimTimes(secretJson(s))).toEqual(trimTimes(rs));
    const rc = exchange('config-inspect', 'GET', /configs\/c1$/).responseBody;
    const c = Config.fromPartial({
      id: rc.ID,
      meta: { version: rc.Version.Index, createdAt: ms(rc.CreatedAt), updatedAt: ms(rc.UpdatedAt) },
      spec: { annotations: { name: 'c1', labels: {} }, data: Buffer.from(rc.Spec.Data, 'base64') },
    });
    expect(trimTimes(configJson(c))).toEqual(trimTimes(rc));
  });
});
