import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { joinHostPort, loadSwarmState, parseHostPort, type SwarmState, saveSwarmState } from './state.js';

describe('swarm addresses', () => {
  it('ADDR[:PORT], the port defaulting to 2377 or the given one; IPv6 in brackets', () => {
    expect(parseHostPort('10.0.0.1', 'AdvertiseAddr')).toEqual({ host: '10.0.0.1', port: 2377 });
    expect(parseHostPort('10.0.0.1:4000', 'AdvertiseAddr')).toEqual({ host: '10.0.0.1', port: 4000 });
    expect(parseHostPort('node1', 'AdvertiseAddr', 5000)).toEqual({ host: 'node1', port: 5000 });
    expect(parseHostPort('[::1]:4000', 'AdvertiseAddr')).toEqual({ host: '::1', port: 4000 });
    expect(parseHostPort('::1', 'AdvertiseAddr')).toEqual({ host: '::1', port: 2377 });
    expect(joinHostPort('::1', 4000)).toBe('[::1]:4000');
    expect(joinHostPort('10.0.0.1', 4000)).toBe('10.0.0.1:4000');
  });

  it.each(['', '10.0.0.1:abc', '10.0.0.1:0', '10.0.0.1:70000', 'a:b:c', '[::1'])(
    'refuses %j naming the field',
    (v) => {
      expect(() => parseHostPort(v, 'ListenAddr')).toThrow(
        expect.objectContaining({ kind: 'invalid_argument', field: 'ListenAddr' }),
      );
    },
  );
});

describe('swarm state file', () => {
  it('round-trips; absent is undefined; a damaged file is an error naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shoal-swarm-state-'));
    try {
      const file = join(dir, 'swarm', 'state.json');
      expect(await loadSwarmState(file)).toBeUndefined();
      const s: SwarmState = {
        nodeId: 'n1',
        clusterId: 'c1',
        role: 'manager',
        raftId: 7,
        listenAddr: '127.0.0.1:2377',
        advertiseAddr: '127.0.0.1:2377',
        managers: ['127.0.0.1:2377'],
      };
      await saveSwarmState(file, s);
      expect(await loadSwarmState(file)).toEqual(s);
      writeFileSync(file, '{"nodeId": 1');
      await expect(loadSwarmState(file)).rejects.toThrow(`${file}: not a valid swarm state file`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
