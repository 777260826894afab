// Pure: a file's stat as the Engine API's ContainerPathStat carries it (the X-Docker-Container-Path-Stat
// header of /containers/{id}/archive): Go's os.FileMode bits, which the docker CLI decodes.
import type { Stats } from 'node:fs';

// Go's io/fs ModeType bits
const GO_DIR = 2 ** 31;
const GO_SYMLINK = 2 ** 27;
const GO_DEVICE = 2 ** 26;
const GO_PIPE = 2 ** 25;
const GO_SOCKET = 2 ** 24;
const GO_SETUID = 2 ** 23;
const GO_SETGID = 2 ** 22;
const GO_CHARDEV = 2 ** 21;
const GO_STICKY = 2 ** 20;

export interface PathStat {
  name: string;
  size: number;
  /** Go's os.FileMode */
  mode: number;
  /** RFC 3339 */
  mtime: string;
  /** A symlink's target, resolved inside the container ("/etc/hosts"); "" otherwise. */
  linkTarget: string;
}

export function goFileMode(
  st: Pick<
    Stats,
    'mode' | 'isDirectory' | 'isSymbolicLink' | 'isBlockDevice' | 'isCharacterDevice' | 'isFIFO' | 'isSocket'
  >,
): number {
  let m = st.mode & 0o777;
  if (st.isDirectory()) m += GO_DIR;
  else if (st.isSymbolicLink()) m += GO_SYMLINK;
  else if (st.isBlockDevice()) m += GO_DEVICE;
  else if (st.isCharacterDevice()) m += GO_DEVICE + GO_CHARDEV;
  else if (st.isFIFO()) m += GO_PIPE;
  else if (st.isSocket()) m += GO_SOCKET;
  if (st.mode & 0o4000) m += GO_SETUID;
  if (st.mode & 0o2000) m += GO_SETGID;
  if (st.mode & 0o1000) m += GO_STICKY;
  return m;
}

export function isGoDir(mode: number): boolean {
  return mode >= GO_DIR;
}

export function pathStat(name: string, st: Stats, linkTarget: string): PathStat {
  return {
    name,
    size: st.size,
    mode: goFileMode(st),
    mtime: st.mtime.toISOString(),
    linkTarget,
  };
}

/** The header's value: base64 of the JSON, as dockerd sends it. */
export function statHeader(s: PathStat): string {
  return Buffer.from(JSON.stringify(s)).toString('base64');
}
