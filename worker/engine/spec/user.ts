// Resolves a container user (`uid[:gid]`, `name[:group]`) against the rootfs' /etc/passwd and
// /etc/group, as runc's GetExecUser does for docker: a named user takes its primary gid and its
// supplementary groups from the files; an explicit group replaces the primary gid and (as runc)
// suppresses the implicit supplementary lookup.
import { InvalidArgumentError } from '../errors.js';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}
export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
  username?: string;
}

const MAX_ID = 2 ** 31 - 1;

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 4) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid) || f[2] === '' || f[3] === '') continue;
    out.push({ name: f[0], uid, gid, home: f[5] || '/' });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 3 || f[2] === '' || !Number.isInteger(Number(f[2]))) continue;
    out.push({ name: f[0], gid: Number(f[2]), members: (f[3] ?? '').split(',').filter(Boolean) });
  }
  return out;
}

const isNumeric = (s: string) => /^[0-9]+$/.test(s);

function numericId(what: string, s: string): number {
  const n = Number(s);
  if (n > MAX_ID) throw new InvalidArgumentError('user', `${what} ${s} is out of range`);
  return n;
}

/**
 * `readFile(path)` returns a file of the container's rootfs (e.g. "/etc/passwd") or undefined.
 * `groupAdd` are extra supplementary groups by name or gid (docker's --group-add).
 */
export function resolveUser(
  user: string,
  readFile: (path: string) => string | undefined,
  groupAdd: readonly string[] = [],
): ResolvedUser {
  const spec = user.trim();
  if (spec.split(':').length > 2) throw new InvalidArgumentError('user', `"${user}" is not USER[:GROUP]`);
  const [userArg = '', groupArg = ''] = spec.split(':');
  if (spec !== '' && userArg === '')
    throw new InvalidArgumentError('user', `"${user}" has an empty user part`);
  if (spec.includes(':') && groupArg === '')
    throw new InvalidArgumentError('user', `"${user}" has an empty group part`);

  const passwdText = readFile('/etc/passwd');
  const groupText = readFile('/etc/group');
  const passwd = passwdText === undefined ? [] : parsePasswd(passwdText);
  const groups = groupText === undefined ? [] : parseGroup(groupText);

  let uid = 0;
  let gid = 0;
  let home = '/';
  let matched: PasswdEntry | undefined;
  if (userArg === '' || isNumeric(userArg)) {
    uid = userArg === '' ? 0 : numericId('uid', userArg);
    matched = passwd.find((p) => p.uid === uid);
  } else {
    matched = passwd.find((p) => p.name === userArg);
    if (!matched)
      throw new InvalidArgumentError(
        'user',
        `unable to find user ${userArg}: no matching entries in the container's /etc/passwd`,
      );
    uid = matched.uid;
  }
  if (matched) {
    gid = matched.gid;
    home = matched.home;
  }

  let additionalGids: number[] = [];
  if (groupArg !== '') {
    if (isNumeric(groupArg)) gid = numericId('gid', groupArg);
    else {
      const g = groups.find((e) => e.name === groupArg);
      if (!g)
        throw new InvalidArgumentError(
          'user',
          `unable to find group ${groupArg}: no matching entries in the container's /etc/group`,
        );
      gid = g.gid;
    }
  } else if (matched) {
    const name = matched.name;
    additionalGids = groups.filter((g) => g.members.includes(name)).map((g) => g.gid);
  }

  for (const extra of groupAdd) {
    let g: number;
    if (isNumeric(extra)) g = numericId('gid', extra);
    else {
      const e = groups.find((x) => x.name === extra);
      if (!e)
        throw new InvalidArgumentError(
          'groupAdd',
          `unable to find group ${extra} in the container's /etc/group`,
        );
      g = e.gid;
    }
    additionalGids.push(g);
  }
  additionalGids = [...new Set(additionalGids)];
  return { uid, gid, additionalGids, home, ...(matched ? { username: matched.name } : {}) };
}
