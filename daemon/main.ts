// shoald: the shoal daemon. Composes the engine and the Engine-shaped HTTP API on a unix socket.

import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ContainerManager, releaseMemory, trimMemory } from '../worker/engine/index.js';
import { ImageStore, releaseIdleChunks } from '../worker/images/index.js';
import {
  BridgeResolver,
  ClusterNetworks,
  NetworkManager,
  parseResolv,
  SwarmLb,
} from '../worker/network/index.js';
import { registryOptions } from './api/images.js';
import { registerAll } from './api/index.js';
import { clusterNetworksPort } from './api/swarm/cluster-networks.js';
import { DAEMON_USAGE, type DaemonConfig, parseDaemonArgs } from './config.js';
import { startCpuProfile, watchEventLoop } from './diagnostics.js';
import { Router } from './http/router.js';
import { createApiServer } from './http/server.js';
import { processIo, startIdleReclaim } from './idle-reclaim.js';
import {
  claimPidFile,
  listenUnix,
  prepareDirs,
  releaseFiles,
  releasePidFile,
  StartupError,
} from './lifecycle.js';
import { SwarmNode } from './node.js';

async function run(flags: DaemonConfig): Promise<void> {
  const say = (m: string) => console.error(`shoald: ${m}`);
  watchEventLoop(say);
  const writeProfile = startCpuProfile(process.env.SHOAL_CPU_PROFILE_DIR, say);
  // One name for the node everywhere (swarm description, /info): the flag's, else the machine's.
  const config: DaemonConfig = { ...flags, hostname: flags.hostname ?? os.hostname() };
  prepareDirs(config);
  claimPidFile(config);
  // The network first: the engine's live restore hands it the containers that still run.
  // User networks' embedded DNS: containers by name and alias; unknown names to the host's nameservers.
  const hostNameservers = parseResolv(await readFile('/etc/resolv.conf', 'utf8').catch(() => '')).nameservers;
  const resolver = new BridgeResolver({
    upstreams: config.dnsForward
      ? hostNameservers.filter((a) => !a.startsWith('127.') && a !== '::1').map((address) => ({ address }))
      : [],
    log: (m) => console.error(`shoald: ${m}`),
  });
  const network = await NetworkManager.open({
    dataRoot: config.dataRoot,
    execRoot: config.execRoot,
    bridgeName: config.bridge,
    bip: config.bip,
    ipMasq: config.ipMasq,
    vxlanPort: config.dataPathPort,
    resolver,
    log: (m) => console.error(`shoald: ${m}`),
  });
  const engine = await ContainerManager.open({
    dataRoot: config.dataRoot,
    execRoot: config.execRoot,
    networking: network,
  });
  await network.settle((id) => engine.list({ all: true }).some((c) => c.id === id));
  // The swarm's networks on this node: overlays, their names and the load balancer, from the dispatcher's plans.
  const swarmLb = new SwarmLb((m) => console.error(`shoald: ${m}`));
  const clusterNetworks = new ClusterNetworks({
    network,
    resolver,
    lb: swarmLb,
    log: (m) => console.error(`shoald: ${m}`),
  });
  network.onRelease(() => void clusterNetworks.retry().catch(() => {}));
  const imageStore = await ImageStore.open(path.join(config.dataRoot, 'images'));
  // The node: worker parts, and a manager's when this node is one (resumed from <data-root>/swarm/).
  const swarm = await SwarmNode.open({
    dataRoot: config.dataRoot,
    engine,
    images: imageStore,
    pull: registryOptions(config),
    hostname: config.hostname,
    executor: config.executor,
    onNetworkPlans: (plans) => network.holdPrepares(clusterNetworks.apply(plans)),
    minCertExpiryMs: testMinCertExpiryMs(),
  });
  network.setAttacher(swarm.overlayAttacher);
  const router = new Router();
  await registerAll(router, {
    engine,
    config,
    startedAt: new Date(),
    now: () => new Date(),
    imageStore,
    swarm,
    network,
    // Swarm networks beside the local ones in /networks (a node in no swarm lists none).
    clusterNetworks: clusterNetworksPort(swarm),
  });
  const api = createApiServer(router);
  try {
    await listenUnix(api.server, config.socketPath);
  } catch (err) {
    await swarm.close().catch(() => {});
    await engine.close();
    await network.close({ keepRunning: engine.list().length > 0 }).catch(() => {});
    await swarmLb.close().catch(() => {});
    releasePidFile(config);
    throw err;
  }
  // The pull's idle buffers first: the collection frees them only if the pool no longer keeps them.
  const release = () => {
    releaseIdleChunks();
    releaseMemory();
  };
  const stopReclaim = startIdleReclaim(processIo(release, trimMemory, say));
  let stopping = false;
  const shutdown = async (signal: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    stopReclaim();
    console.error(`shoald: ${signal}: shutting down (containers keep running)`);
    api.server.close();
    api.destroyConnections();
    await swarm.close().catch((err) => console.error(`shoald: closing the swarm node: ${err}`));
    // Detach from monitors without stopping containers: a restarted shoald finds them again.
    await engine.close().catch((err) => console.error(`shoald: closing the engine: ${err}`));
    // Running containers keep their sandboxes and rules (live restore); otherwise the table and bridges go.
    const running = engine.list().length > 0;
    await network
      .close({ keepRunning: running })
      .catch((err) => console.error(`shoald: closing the network: ${err}`));
    clusterNetworks.close();
    if (!running) await swarmLb.close().catch((err) => console.error(`shoald: removing ${err}`));
    await resolver.close().catch(() => {});
    releaseFiles(config);
    await writeProfile();
    process.exit(code);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  // Last resort, behind the per-request error boundary (http/server.ts). A promise rejection nobody
  // handled is logged and serving goes on: the code that made it has finished its synchronous part.
  // An exception thrown out of a callback may have cut an engine update in half, so the in-memory
  // state can no longer be trusted: log it and stop, detaching from the monitors; the containers keep
  // running and a restarted shoald rebuilds its state from disk (live restore).
  process.on('unhandledRejection', (reason) => {
    console.error(`shoald: unhandled rejection (serving goes on): ${(reason as Error)?.stack ?? reason}`);
  });
  process.on('uncaughtException', (err) => {
    console.error(`shoald: uncaught exception: ${err?.stack ?? err}`);
    void shutdown('uncaught exception', 70);
  });
  // Last: whoever waits for this line (a supervisor, a test) may signal us at once.
  console.error(
    `shoald: listening on unix://${config.socketPath} (data-root ${config.dataRoot}, exec-root ${config.execRoot})`,
  );
}

const parsed = parseDaemonArgs(process.argv.slice(2));
if (parsed.kind === 'help') {
  process.stdout.write(DAEMON_USAGE);
} else if (parsed.kind === 'error') {
  process.stderr.write(`shoald: ${parsed.message}\nSee 'shoald --help'.\n`);
  process.exit(125);
} else {
  run(parsed.config).catch((err) => {
    process.stderr.write(`shoald: ${err instanceof StartupError ? err.message : (err?.stack ?? err)}\n`);
    process.exit(1);
  });
}

/**
 * SHOAL_TEST_MIN_CERT_EXPIRY=SECONDS lowers the one-hour floor of --cert-expiry so that the tests can watch
 * certificates renew on a real clock in separate processes; an environment variable, not a flag, because no
 * deployment should ever want it. Said loudly when set.
 */
function testMinCertExpiryMs(): number | undefined {
  const raw = process.env.SHOAL_TEST_MIN_CERT_EXPIRY;
  if (raw === undefined || raw === '') return undefined;
  const s = Number(raw);
  if (!Number.isSafeInteger(s) || s < 1)
    throw new Error(
      `SHOAL_TEST_MIN_CERT_EXPIRY: ${JSON.stringify(raw)} is not a whole number of seconds >= 1`,
    );
  console.error(`shoald: TEST ONLY: node certificates may expire after ${s}s (SHOAL_TEST_MIN_CERT_EXPIRY)`);
  return s * 1000;
}
