// The gRPC transport on its own: batches of messages both ways, a snapshot split into many chunks and
// reassembled intact, unreachable peers reported (not thrown), and reconnection once the peer is back.
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import type { Message, Snapshot } from '../../manager/raft/core/types.js';
import { RaftTransport } from '../../manager/raft/transport/transport.js';
import { RaftServiceClient } from '../../proto/gen/shoal/raft/v1/raft.js';
import { waitUntil } from './harness.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const servers: grpc.Server[] = [];
const transports: RaftTransport[] = [];
afterEach(() => {
  for (const t of transports.splice(0)) t.close();
  for (const s of servers.splice(0)) s.forceShutdown();
});

interface Endpoint {
  t: RaftTransport;
  got: Message[];
  unreachable: number[];
  lost: number[];
  snapStatus: [number, boolean][];
  server: grpc.Server | null;
}

async function serve(t: RaftTransport, address: string): Promise<grpc.Server> {
  const s = new grpc.Server();
  const svc = t.service();
  s.addService(svc.definition, svc.implementation);
  await new Promise<void>((res, rej) =>
    s.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err) => (err ? rej(err) : res())),
  );
  servers.push(s);
  return s;
}

function endpoint(id: number, address: string): Endpoint {
  const e: Endpoint = {
    got: [],
    unreachable: [],
    lost: [],
    snapStatus: [],
    server: null,
  } as unknown as Endpoint;
  e.t = new RaftTransport({
    id,
    advertiseAddress: address,
    credentials: grpc.credentials.createInsecure(),
    snapshotChunkBytes: 1024,
    backoffInitialMs: 20,
    backoffMaxMs: 100,
    handlers: {
      onMessage: (m) => e.got.push(m),
      onUnreachable: (to) => e.unreachable.push(to),
      onPeerLost: (id) => e.lost.push(id),
      onSnapshotStatus: (to, ok) => e.snapStatus.push([to, ok]),
    },
  });
  transports.push(e.t);
  return e;
}

function msg(from: number, to: number, index: number, extra: Partial<Message> = {}): Message {
  return {
    type: 'app',
    from,
    to,
    term: 3,
    logTerm: 2,
    index,
    entries: [{ term: 3, index: index + 1, type: 'normal', data: Buffer.from(`e${index + 1}`) }],
    commit: Math.max(0, index - 1),
    reject: false,
    rejectHint: 0,
    ...extra,
  };
}

describe('RaftTransport', () => {
  it('answers a stream with its headers at once, so the sender keeps no copy of what it sends', async () => {
    // grpc-js keeps every message of a client stream (to replay it on a retry) until the server's headers
    // arrive; sent only with the answer at the stream's end, a leader held thousands of them per follower.
    const a = endpoint(1, '127.0.0.1:21406');
    a.server = await serve(a.t, '127.0.0.1:21406');
    const client = new RaftServiceClient('127.0.0.1:21406', grpc.credentials.createInsecure());
    try {
      for (const open of [() => client.stream(() => {}), () => client.sendSnapshot(() => {})]) {
        const call = open();
        const headers = new Promise((resolve) => call.on('metadata', resolve));
        // nothing sent, the stream left open: the headers come anyway
        await expect(Promise.race([headers, sleep(3000).then(() => 'none')])).resolves.not.toBe('none');
        call.cancel();
      }
    } finally {
      client.close();
    }
  });

  it('delivers message batches with entries and contexts intact', async () => {
    const a = endpoint(1, '127.0.0.1:21401');
    const b = endpoint(2, '127.0.0.2:21401');
    a.server = await serve(a.t, '127.0.0.1:21401');
    b.server = await serve(b.t, '127.0.0.2:21401');
    a.t.setPeer(2, '127.0.0.2:21401');
    b.t.setPeer(1, '127.0.0.1:21401');
    a.t.send([
      msg(1, 2, 10),
      msg(1, 2, 11),
      { ...msg(1, 2, 0), type: 'heartbeat', entries: [], context: new Uint8Array(0) },
    ]);
    await waitUntil(() => (b.got.length === 3 ? true : undefined), 5000, 'three messages');
    expect(b.got[0]).toMatchObject({
      type: 'app',
      from: 1,
      to: 2,
      term: 3,
      logTerm: 2,
      index: 10,
      commit: 9,
    });
    expect(Buffer.from(b.got[1].entries[0].data).toString()).toBe('e12');
    expect(b.got[1].entries[0]).toMatchObject({ term: 3, index: 12, type: 'normal' });
    expect(b.got[0].context).toBeUndefined();
    expect(b.got[2].context).toEqual(Buffer.alloc(0)); // an empty context survives as "present"
    b.t.send([{ ...msg(2, 1, 11), type: 'appResp', entries: [], reject: true, rejectHint: 7 }]);
    await waitUntil(() => (a.got.length === 1 ? true : undefined), 5000, 'the response');
    expect(a.got[0]).toMatchObject({ type: 'appResp', reject: true, rejectHint: 7 });
  });

  it('sends a snapshot in many chunks and reassembles it exactly', async () => {
    const a = endpoint(1, '127.0.0.1:21402');
    const b = endpoint(2, '127.0.0.2:21402');
    await serve(b.t, '127.0.0.2:21402');
    a.t.setPeer(2, '127.0.0.2:21402');
    const data = Buffer.alloc(100_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31 + 7) & 0xff;
    const snapshot: Snapshot = {
      metadata: { index: 500, term: 4, confState: { voters: [1, 2, 3], learners: [4] } },
      data,
    };
    a.t.send([{ ...msg(1, 2, 0), type: 'snap', entries: [], snapshot }]);
    await waitUntil(() => (a.snapStatus.length === 1 ? true : undefined), 10_000, 'snapshot status');
    expect(a.snapStatus).toEqual([[2, true]]);
    expect(b.got).toHaveLength(1);
    expect(b.got[0].type).toBe('snap');
    expect(b.got[0].snapshot?.metadata).toEqual(snapshot.metadata);
    expect(Buffer.compare(Buffer.from(b.got[0].snapshot!.data), data)).toBe(0);
  });

  it('reports an unreachable peer instead of failing, and reconnects when it comes back', async () => {
    const a = endpoint(1, '127.0.0.1:21403');
    const b = endpoint(2, '127.0.0.2:21403');
    a.t.setPeer(2, '127.0.0.2:21403');
    a.t.send([msg(1, 2, 1)]);
    await waitUntil(() => (a.unreachable.includes(2) ? true : undefined), 5000, 'unreachable report');
    a.t.send([
      {
        ...msg(1, 2, 0),
        type: 'snap',
        entries: [],
        snapshot: {
          metadata: { index: 1, term: 1, confState: { voters: [1], learners: [] } },
          data: Buffer.alloc(10),
        },
      },
    ]);
    await waitUntil(() => (a.snapStatus.length === 1 ? true : undefined), 5000, 'failed snapshot status');
    expect(a.snapStatus).toEqual([[2, false]]);
    await serve(b.t, '127.0.0.2:21403');
    await waitUntil(
      () => {
        a.t.send([msg(1, 2, 5)]);
        return b.got.length > 0 ? true : undefined;
      },
      10_000,
      'delivery after the peer came up',
    );
    expect(b.got[0].index).toBe(5);
  });

  it('reports a peer lost on both sides when a connection drops: its stream to us cut, ours to it failed', async () => {
    const a = endpoint(1, '127.0.0.1:21405');
    const b = endpoint(2, '127.0.0.2:21405');
    a.server = await serve(a.t, '127.0.0.1:21405');
    b.t.setPeer(1, '127.0.0.1:21405');
    b.t.send([msg(2, 1, 1)]);
    await waitUntil(() => (a.got.length > 0 ? true : undefined), 5000, 'b to a stream up');
    expect(a.lost).toEqual([]);
    // a's side of the connection goes down (its server is shut without waiting for calls): a's inbound stream
    // from b is cancelled, and b's stream to a fails — each side names the other.
    a.server.forceShutdown();
    await waitUntil(() => (a.lost.includes(2) && b.lost.includes(1) ? true : undefined), 5000, 'both lost');
    expect(b.unreachable).toContain(1);
  });
});
