// grpc-js turns Nagle's algorithm off on client sockets but not on server sockets, so small responses
// written while an earlier one is unacknowledged wait for the peer's delayed ACK (~40 ms on Linux).
// grpc-js offers no option for it; this reaches into the bound http2 servers once, after bindAsync.
import type * as net from 'node:net';
import type * as grpc from '@grpc/grpc-js';

export function disableNagleOnServer(server: grpc.Server): void {
  const servers = (server as unknown as { http2Servers?: Map<net.Server, unknown> }).http2Servers;
  if (!(servers instanceof Map)) return; // grpc-js internals changed: keep working, just slower
  for (const s of servers.keys()) {
    s.on('connection', (sock: net.Socket) => sock.setNoDelay(true));
  }
}
