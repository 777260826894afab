import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { decodeAuthHeader, encodeAuthHeader } from '../../../common/registry-auth.js';
import { parseChallenge } from './auth.js';
import { endpointFor } from './endpoint.js';

const certs = mkdtempSync(path.join(os.tmpdir(), 'shoal-certs-'));
afterAll(() => rmSync(certs, { recursive: true, force: true }));

it('chooses https, plain http for loopback and --insecure-registry, https with a CA from certs.d', () => {
  expect(endpointFor('docker.io', { certsDir: certs })).toEqual({
    base: 'https://registry-1.docker.io',
    host: 'docker.io',
    ca: undefined,
  });
  expect(endpointFor('registry.example:5000', { certsDir: certs }).base).toBe(
    'https://registry.example:5000',
  );
  expect(endpointFor('127.0.0.1:5000', { certsDir: certs }).base).toBe('http://127.0.0.1:5000');
  expect(endpointFor('localhost:5000', { certsDir: certs }).base).toBe('http://localhost:5000');
  expect(
    endpointFor('registry.example:5000', { certsDir: certs, insecureRegistries: ['registry.example:5000'] })
      .base,
  ).toBe('http://registry.example:5000');
  mkdirSync(path.join(certs, '127.0.0.1:5000'));
  writeFileSync(path.join(certs, '127.0.0.1:5000', 'ca.crt'), 'PEM');
  const e = endpointFor('127.0.0.1:5000', { certsDir: certs });
  expect(e.base).toBe('https://127.0.0.1:5000');
  expect(e.ca?.toString()).toBe('PEM');
});

it('parses WWW-Authenticate challenges', () => {
  expect(
    parseChallenge(
      'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"',
    ),
  ).toEqual({
    scheme: 'bearer',
    params: {
      realm: 'https://auth.example/token',
      service: 'registry.example',
      scope: 'repository:a/b:pull,push',
    },
  });
  expect(parseChallenge('Basic realm="Registry Realm"')).toEqual({
    scheme: 'basic',
    params: { realm: 'Registry Realm' },
  });
  expect(parseChallenge('Bearer realm=https://x/t, service=s')?.params).toEqual({
    realm: 'https://x/t',
    service: 's',
  });
  expect(parseChallenge(undefined)).toBeUndefined();
});

it('encodes and decodes X-Registry-Auth as docker does (base64url JSON)', () => {
  const h = encodeAuthHeader({ username: 'u', password: 'p?>' }, '127.0.0.1:5000');
  expect(JSON.parse(Buffer.from(h, 'base64url').toString())).toEqual({
    username: 'u',
    password: 'p?>',
    serveraddress: '127.0.0.1:5000',
  });
  expect(decodeAuthHeader(h)).toEqual({ username: 'u', password: 'p?>' });
  expect(decodeAuthHeader(Buffer.from('{}').toString('base64url'))).toBeUndefined();
  expect(() => decodeAuthHeader('!!!')).toThrow(/X-Registry-Auth/);
});
