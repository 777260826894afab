import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { decide, type MethodPolicy } from './authz.js';

const policy: MethodPolicy = {
  '/s/Join': 'anyone',
  '/s/Both': ['manager', 'worker'],
  '/s/ManagersOnly': ['manager'],
};
const manager = { nodeId: 'm1', role: 'manager' as const, clusterId: 'c1' };
const worker = { nodeId: 'w1', role: 'worker' as const, clusterId: 'c1' };

describe('authorisation decisions', () => {
  it('follow the policy by role', () => {
    expect(decide(policy, 'c1', '/s/Join', undefined)).toEqual({ ok: true });
    expect(decide(policy, 'c1', '/s/Both', worker)).toEqual({ ok: true });
    expect(decide(policy, 'c1', '/s/ManagersOnly', manager)).toEqual({ ok: true });
    expect(decide(policy, 'c1', '/s/ManagersOnly', worker)).toEqual({
      ok: false,
      code: grpc.status.PERMISSION_DENIED,
      details: '/s/ManagersOnly: caller w1 is a worker; allowed: manager',
    });
  });

  it('need a certificate for anything but joining', () => {
    const d = decide(policy, 'c1', '/s/Both', undefined);
    expect(d).toMatchObject({ ok: false, code: grpc.status.UNAUTHENTICATED });
  });

  it('refuse another cluster’s node and methods without a rule', () => {
    expect(decide(policy, 'c1', '/s/Both', { ...manager, clusterId: 'c2' })).toMatchObject({
      ok: false,
      code: grpc.status.PERMISSION_DENIED,
      details: expect.stringMatching(/belongs to cluster c2, not c1/),
    });
    expect(decide(policy, 'c1', '/s/Unlisted', manager)).toMatchObject({
      ok: false,
      code: grpc.status.PERMISSION_DENIED,
      details: expect.stringMatching(/no access rule/),
    });
  });

  it('refuse a removed node whose certificate is still valid', () => {
    expect(decide(policy, 'c1', '/s/Both', worker, (id) => id === 'w1')).toMatchObject({
      ok: false,
      code: grpc.status.PERMISSION_DENIED,
      details: '/s/Both: node w1 was removed from the cluster',
    });
    expect(decide(policy, 'c1', '/s/Both', manager, (id) => id === 'w1')).toEqual({ ok: true });
  });
});
