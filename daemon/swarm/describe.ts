// What a node reports of itself at each session start: host name, platform, resources, engine version.
import os from 'node:os';
import { NodeDescription } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { SERVER_VERSION } from '../http/reply.js';

export async function describeNode(hostname: string): Promise<NodeDescription> {
  return NodeDescription.fromPartial({
    hostname,
    platform: { os: 'linux', architecture: os.machine() },
    resources: { nanoCpus: os.availableParallelism() * 1e9, memoryBytes: os.totalmem() },
    engine: { engineVersion: SERVER_VERSION, labels: {} },
  });
}
