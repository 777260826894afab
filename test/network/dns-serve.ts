// Runs resolver listeners for a test inside whatever network namespace it is started in (the test starts
// it with nsenter): a network's resolver on ADDRESS:53 forwarding to an "upstream" on UPSTREAM:53 that
// knows one outside name. Prints "ready" once both listen; stops on SIGTERM or when stdin closes.

import { buildRecords, DnsServer } from '../../worker/network/dns/index.js';

const [address, upstreamAddress] = process.argv.slice(2);
const upstream = new DnsServer({
  address: upstreamAddress,
  port: 53,
  records: buildRecords({
    network: 'outside',
    containers: [{ name: 'example.test', address: '192.0.2.10' }],
  }),
});
const server = new DnsServer({
  address,
  port: 53,
  upstreams: [{ address: upstreamAddress }],
  upstreamTimeoutMs: 1000,
  searchDomains: ['corp.example'],
  records: buildRecords({
    network: 'appnet',
    services: [
      { name: 'web', vip: '10.0.1.2', tasks: ['10.0.1.5', '10.0.1.6'] },
      { name: 'db', endpointMode: 'dnsrr', tasks: ['10.0.1.8', '10.0.1.9'] },
    ],
    containers: [{ name: 'cache', id: 'ffeeddccbbaa99887766', address: '10.0.1.20', aliases: ['redis'] }],
  }),
});
await upstream.start();
await server.start();
console.log('ready');
const stop = async () => {
  await server.stop();
  await upstream.stop();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
