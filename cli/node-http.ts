// node:http, for the streams and hijacked connections only: imported dynamically from client.ts, which
// the bundle turns into a module initialised on first use (a plain `import('node:http')` would stay a
// real dynamic import, which bin/shoal's compiled-from-cache script cannot make on Node 20).
export { request } from 'node:http';
