// shoald-sim: many simulated worker nodes in one process (see daemon/sim/ and docs in daemon/README.md).
import { startCpuProfile, watchEventLoop } from './diagnostics.js';
import { parseSimArgs, SIM_USAGE } from './sim/config.js';
import { SimNodeHost } from './sim/host.js';

const log = (m: string) => console.error(`shoald-sim: ${m}`);

async function run(): Promise<void> {
  const parsed = parseSimArgs(process.argv.slice(2));
  if (parsed.kind === 'help') {
    process.stdout.write(SIM_USAGE);
    return;
  }
  if (parsed.kind === 'error') {
    process.stderr.write(`shoald-sim: ${parsed.message}\nSee 'shoald-sim --help'.\n`);
    process.exit(125);
  }
  watchEventLoop(log);
  const writeProfile = startCpuProfile(process.env.SHOAL_CPU_PROFILE_DIR, log);
  const host = new SimNodeHost(parsed.config, log);
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping ${host.nodes.length} nodes`);
    await writeProfile(); // first: stopping hundreds of nodes may outlast the caller's patience
    await host.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  await host.start();
  log(`${host.nodes.length} nodes started`);
  // Say once when every node has had a session (whoever started us waits for this line).
  const timer = setInterval(() => {
    if (host.connected() < host.nodes.length) return;
    clearInterval(timer);
    log(`${host.nodes.length} nodes in session`);
  }, 200);
}

run().catch((err) => {
  process.stderr.write(`shoald-sim: ${err?.stack ?? err}\n`);
  process.exit(1);
});
