// `--device` mappings → host nodes, at create before the spec is built: each host path is stat'ed
// (symbolic links followed, as docker) and must be a char or block device, or a directory whose
// nodes are all mapped under the container path (as docker expands `--device /dev/snd`).
import { statSync } from 'node:fs';
import { relative } from 'node:path';
import { InvalidArgumentError } from './errors.js';
import { hostDevices } from './host.js';
import { checkDeviceMapping, type ResolvedDevice } from './spec/devices.js';
import type { DeviceMapping } from './types.js';

/** glibc's gnu_dev_major/minor for the dev_t Node hands over as a number. */
const major = (rdev: number) => ((rdev >> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
const minor = (rdev: number) => (rdev & 0xff) | ((rdev >> 12) & 0xfff00);

export function resolveDevices(mappings: readonly DeviceMapping[] | undefined): ResolvedDevice[] {
  const out: ResolvedDevice[] = [];
  (mappings ?? []).forEach((d, i) => {
    const m = checkDeviceMapping(d, i);
    const field = `devices[${i}].pathOnHost`;
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(m.host);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new InvalidArgumentError(
        field,
        code === 'ENOENT' ? `${m.host} does not exist` : `cannot stat ${m.host} (${code ?? e})`,
      );
    }
    if (st.isCharacterDevice() || st.isBlockDevice()) {
      const rdev = Number(st.rdev);
      out.push({
        type: st.isCharacterDevice() ? 'c' : 'b',
        path: m.container,
        major: major(rdev),
        minor: minor(rdev),
        fileMode: Number(st.mode) & 0o7777,
        uid: Number(st.uid),
        gid: Number(st.gid),
        access: m.access,
      });
      return;
    }
    if (!st.isDirectory())
      throw new InvalidArgumentError(field, `${m.host} is not a character or block device`);
    const nodes = hostDevices(m.host);
    if (nodes.length === 0)
      throw new InvalidArgumentError(field, `the directory ${m.host} holds no device nodes`);
    for (const n of nodes) {
      const rel = relative(m.host, n.path);
      out.push({
        ...n,
        type: n.type === 'b' ? 'b' : 'c',
        path: m.container === '/' ? `/${rel}` : `${m.container}/${rel}`,
        major: n.major ?? 0,
        minor: n.minor ?? 0,
        access: m.access,
      });
    }
  });
  return out;
}
