// Tar header encoding and decoding: ustar, GNU long names (L/K), PAX extended headers (x/g).
export type EntryType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

export interface TarEntry {
  name: string;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** seconds since the epoch, fractional when a PAX mtime gave sub-second precision */
  mtime: number;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  xattrs: Record<string, Buffer>;
}

export const BLOCK = 512;

export class TarFormatError extends Error {}

const TYPE_FROM_FLAG: Record<string, EntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
};
const FLAG_FROM_TYPE: Record<EntryType, string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
};

function cstr(b: Buffer, off: number, len: number): string {
  const s = b.subarray(off, off + len);
  const z = s.indexOf(0);
  return (z >= 0 ? s.subarray(0, z) : s).toString('utf8');
}

function num(b: Buffer, off: number, len: number, field: string): number {
  const s = b.subarray(off, off + len);
  if (s[0] & 0x80) {
    // GNU base-256: big-endian two's complement with the top bit as marker.
    let v = 0;
    for (let i = 0; i < s.length; i++) v = v * 256 + (i === 0 ? s[i] & 0x7f : s[i]);
    if (!Number.isSafeInteger(v)) throw new TarFormatError(`tar header: ${field} too large`);
    return v;
  }
  const t = s.toString('latin1').replace(/\0.*$/s, '').trim();
  if (t === '') return 0;
  if (!/^[0-7]+$/.test(t)) throw new TarFormatError(`tar header: ${field} is not an octal number: "${t}"`);
  return Number.parseInt(t, 8);
}

export function isZeroBlock(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

export function checksumOf(b: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : b[i];
  return sum;
}

export interface RawHeader {
  flag: string;
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
}

export function decodeHeader(b: Buffer, offset: number): RawHeader {
  try {
    return decodeHeaderFields(b, offset);
  } catch (e) {
    if (e instanceof TarFormatError && !e.message.startsWith('tar:'))
      throw new TarFormatError(
        `tar: invalid header at offset ${offset}${offset === 0 ? ' (not a tar archive?)' : ''}: ${e.message.replace(/^tar header: /, '')}`,
      );
    throw e;
  }
}

function decodeHeaderFields(b: Buffer, offset: number): RawHeader {
  const stored = num(b, 148, 8, 'checksum');
  if (stored !== checksumOf(b)) throw new TarFormatError(`tar: invalid header checksum at offset ${offset}`);
  const magic = b.subarray(257, 263).toString('latin1');
  let name = cstr(b, 0, 100);
  if (magic === 'ustar\0') {
    const prefix = cstr(b, 345, 155);
    if (prefix) name = `${prefix}/${name}`;
  }
  return {
    flag: String.fromCharCode(b[156]),
    name,
    mode: num(b, 100, 8, 'mode'),
    uid: num(b, 108, 8, 'uid'),
    gid: num(b, 116, 8, 'gid'),
    size: num(b, 124, 12, 'size'),
    mtime: num(b, 136, 12, 'mtime'),
    linkname: cstr(b, 157, 100),
    uname: cstr(b, 265, 32),
    gname: cstr(b, 297, 32),
    devmajor: num(b, 329, 8, 'devmajor'),
    devminor: num(b, 337, 8, 'devminor'),
  };
}

export function entryType(flag: string, name: string): EntryType {
  const t = TYPE_FROM_FLAG[flag];
  if (!t) throw new TarFormatError(`tar: unsupported entry type '${flag}' for "${name}"`);
  return t;
}

/** PAX records are "<len> <key>=<value>\n"; values may be binary (xattrs), so parse bytes. */
export function parsePax(data: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let i = 0;
  while (i < data.length) {
    if (data[i] === 0) break;
    const sp = data.indexOf(0x20, i);
    if (sp < 0) throw new TarFormatError('tar: malformed PAX record (no length)');
    const len = Number.parseInt(data.subarray(i, sp).toString('latin1'), 10);
    if (!Number.isInteger(len) || len <= sp - i || i + len > data.length)
      throw new TarFormatError('tar: malformed PAX record length');
    const rec = data.subarray(sp + 1, i + len);
    if (rec[rec.length - 1] !== 0x0a) throw new TarFormatError('tar: malformed PAX record (no newline)');
    const eq = rec.indexOf(0x3d);
    if (eq < 0) throw new TarFormatError('tar: malformed PAX record (no "=")');
    out.set(rec.subarray(0, eq).toString('utf8'), rec.subarray(eq + 1, rec.length - 1));
    i += len;
  }
  return out;
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

function writeStr(b: Buffer, off: number, len: number, s: string): boolean {
  const bytes = Buffer.from(s, 'utf8');
  if (bytes.length > len) return false;
  bytes.copy(b, off);
  return true;
}

function writeOctal(b: Buffer, off: number, len: number, v: number): boolean {
  const s = Math.floor(v).toString(8);
  if (s.length > len - 1) return false;
  b.write(s.padStart(len - 1, '0'), off, 'latin1');
  b[off + len - 1] = 0;
  return true;
}

function rawHeaderBlock(h: RawHeader, flag: string): { block: Buffer; needPax: boolean } {
  const b = Buffer.alloc(BLOCK);
  let needPax = false;
  if (!writeStr(b, 0, 100, h.name)) {
    // split into prefix/name at a slash when possible (plain ustar), else PAX carries it
    const bytes = Buffer.from(h.name, 'utf8');
    let done = false;
    for (let i = bytes.length - 1; i > 0; i--) {
      if (bytes[i] !== 0x2f) continue;
      if (i <= 155 && bytes.length - i - 1 <= 100 && bytes.length - i - 1 > 0) {
        bytes.copy(b, 345, 0, i);
        bytes.copy(b, 0, i + 1);
        done = true;
        break;
      }
    }
    if (!done) {
      needPax = true;
      writeStr(b, 0, 100, Buffer.from(h.name).subarray(0, 99).toString('latin1'));
    }
  }
  if (!writeOctal(b, 100, 8, h.mode & 0o7777)) needPax = true;
  for (const [off, v] of [
    [108, h.uid],
    [116, h.gid],
  ] as const)
    if (!writeOctal(b, off, 8, v)) needPax = true;
  if (!writeOctal(b, 124, 12, h.size)) needPax = true;
  if (!writeOctal(b, 136, 12, Math.max(0, Math.floor(h.mtime)))) needPax = true;
  b[156] = flag.charCodeAt(0);
  if (!writeStr(b, 157, 100, h.linkname)) needPax = true;
  b.write('ustar\0', 257, 'latin1');
  b.write('00', 263, 'latin1');
  if (!writeStr(b, 265, 32, h.uname)) needPax = true;
  if (!writeStr(b, 297, 32, h.gname)) needPax = true;
  writeOctal(b, 329, 8, h.devmajor);
  writeOctal(b, 337, 8, h.devminor);
  b.write('        ', 148, 'latin1');
  writeOctal(b, 148, 7, checksumOf(b));
  b[155] = 0x20;
  return { block: b, needPax };
}

export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** Encodes the header block(s) of an entry: a PAX header first when a field does not fit ustar or xattrs exist. */
export function encodeHeader(e: TarEntry): Buffer {
  const h: RawHeader = { ...e, flag: FLAG_FROM_TYPE[e.type] };
  const size = e.type === 'file' ? e.size : 0;
  const { block, needPax } = rawHeaderBlock({ ...h, size }, h.flag);
  const xattrKeys = Object.keys(e.xattrs ?? {});
  const fractional = e.mtime !== Math.floor(e.mtime);
  if (!needPax && xattrKeys.length === 0 && !fractional) return block;
  const recs: Buffer[] = [];
  recs.push(paxRecord('path', Buffer.from(e.name)));
  if (e.linkname) recs.push(paxRecord('linkpath', Buffer.from(e.linkname)));
  if (size > 0o77777777777) recs.push(paxRecord('size', Buffer.from(String(size))));
  if (e.uid > 0o7777777) recs.push(paxRecord('uid', Buffer.from(String(e.uid))));
  if (e.gid > 0o7777777) recs.push(paxRecord('gid', Buffer.from(String(e.gid))));
  if (fractional) recs.push(paxRecord('mtime', Buffer.from(e.mtime.toFixed(9))));
  for (const k of xattrKeys) recs.push(paxRecord(`SCHILY.xattr.${k}`, e.xattrs[k]));
  const pax = Buffer.concat(recs);
  const paxHead = rawHeaderBlock(
    {
      ...h,
      name: 'PaxHeader',
      size: pax.length,
      linkname: '',
      mode: 0o644,
      uid: 0,
      gid: 0,
      uname: '',
      gname: '',
    },
    'x',
  ).block;
  return Buffer.concat([paxHead, pax, Buffer.alloc(padding(pax.length)), block]);
}
