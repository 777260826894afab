// Streaming tar reader. Yields each entry with a body that must be consumed (or is skipped) before the
// next entry; PAX extended headers and GNU long names are merged into the entry they describe.
// PAX global headers are checked and then ignored, as Docker does (Go's archive/tar hands them out as
// entries of their own, which docker skips): they never change how an entry reads, and cost nothing
// per later entry.

import { ByteSource, TruncatedError } from './bytesource.js';
import {
  BLOCK,
  decodeHeader,
  entryType,
  isZeroBlock,
  padding,
  parsePax,
  type TarEntry,
  TarFormatError,
} from './header.js';

export { TarFormatError } from './header.js';

export interface TarItem {
  entry: TarEntry;
  /** The file's bytes (empty for everything but regular files). */
  body: AsyncIterable<Buffer>;
}

const MAX_META = 1 << 20; // a PAX header or long name larger than 1 MiB is hostile, not useful (as Go)
/** Real archives hold one (git archive) or none; thousands are an attack on the reader, not data. */
export const MAX_GLOBAL_HEADERS = 1000;
const MAX_ID = 0xffffffff; // uid_t/gid_t

/** A PAX numeric record's value, which must be plain decimal (what Go's archive/tar accepts, minus signs). */
function paxNumber(key: string, v: string, max: number): number {
  if (!/^[0-9]+$/.test(v)) throw new TarFormatError(`tar: PAX ${key} is not a decimal number: "${v}"`);
  const n = Number(v);
  if (n > max) throw new TarFormatError(`tar: PAX ${key} is out of range: "${v}"`);
  return n;
}

/** A PAX time: decimal seconds with an optional fraction ("1700000000.25"); negative is before 1970. */
function paxTime(key: string, v: string): number {
  if (!/^-?[0-9]+(\.[0-9]*)?$/.test(v))
    throw new TarFormatError(`tar: PAX ${key} is not a decimal time: "${v}"`);
  const n = Number(v);
  if (!Number.isFinite(n) || Math.abs(n) > Number.MAX_SAFE_INTEGER)
    throw new TarFormatError(`tar: PAX ${key} is out of range: "${v}"`);
  return n;
}

export interface ReadTarOptions {
  /**
   * Accept an archive whose stream ends in the last entry's padding (its data complete). The docker
   * CLI sends build contexts so when it adds a Dockerfile from outside the context; dockerd accepts them.
   */
  lenientEnd?: boolean;
}

export async function* readTar(
  src: AsyncIterable<Buffer | Uint8Array | string>,
  opts: ReadTarOptions = {},
): AsyncGenerator<TarItem> {
  const bs = new ByteSource(src);
  let globalHeaders = 0;
  let localPax: Map<string, Buffer> | null = null;
  let longName: string | null = null;
  let longLink: string | null = null;
  let entries = 0;
  try {
    for (;;) {
      const at = bs.offset;
      let block: Buffer | null;
      try {
        block = await bs.readExact(BLOCK);
      } catch (e) {
        if (e instanceof TruncatedError) throw new TarFormatError(`tar: truncated header at offset ${at}`);
        throw e;
      }
      if (block === null) {
        if (entries === 0 && at === 0) throw new TarFormatError('tar: empty archive');
        if (localPax || longName || longLink)
          throw new TarFormatError('tar: archive ends after an extended header');
        return; // tolerate archives without the two zero blocks
      }
      if (isZeroBlock(block)) {
        await bs.drain();
        return;
      }
      const h = decodeHeader(block, at);
      const readMeta = async (what: string): Promise<Buffer> => {
        if (h.size > MAX_META) throw new TarFormatError(`tar: ${what} of ${h.size} bytes is too large`);
        const data = await bs.readExact(h.size + padding(h.size)).catch((e) => {
          throw e instanceof TruncatedError
            ? new TarFormatError(`tar: truncated ${what} at offset ${at}`)
            : e;
        });
        if (data === null) throw new TarFormatError(`tar: truncated ${what} at offset ${at}`);
        // a copy: PAX values (xattrs) live on in the entry, past the source's next read
        return Buffer.from(data.subarray(0, h.size));
      };
      if (h.flag === 'x') {
        localPax = parsePax(await readMeta('PAX header'));
        continue;
      }
      if (h.flag === 'g') {
        if (++globalHeaders > MAX_GLOBAL_HEADERS)
          throw new TarFormatError(
            `tar: more than ${MAX_GLOBAL_HEADERS} PAX global headers at offset ${at}; refusing the archive`,
          );
        parsePax(await readMeta('PAX global header')); // malformed is an error, as in Go
        continue;
      }
      if (h.flag === 'L') {
        longName = (await readMeta('GNU long name')).toString('utf8').replace(/\0+$/, '');
        continue;
      }
      if (h.flag === 'K') {
        longLink = (await readMeta('GNU long link name')).toString('utf8').replace(/\0+$/, '');
        continue;
      }
      const pax = localPax ?? new Map<string, Buffer>();
      // an empty value keeps the header's own field (as Go's archive/tar does)
      const str = (k: string) => {
        const v = pax.get(k)?.toString('utf8');
        return v === '' ? undefined : v;
      };
      const int = (k: string, fallback: number, max: number) => {
        const v = str(k);
        return v === undefined ? fallback : paxNumber(k, v, max);
      };
      const time = (k: string, fallback: number) => {
        const v = str(k);
        return v === undefined ? fallback : paxTime(k, v);
      };
      const name = str('path') ?? longName ?? h.name;
      const entry: TarEntry = {
        name,
        type: entryType(h.flag, name),
        mode: h.mode & 0o7777,
        uid: int('uid', h.uid, MAX_ID),
        gid: int('gid', h.gid, MAX_ID),
        size: int('size', h.size, Number.MAX_SAFE_INTEGER),
        mtime: time('mtime', h.mtime),
        linkname: str('linkpath') ?? longLink ?? h.linkname,
        uname: str('uname') ?? h.uname,
        gname: str('gname') ?? h.gname,
        devmajor: h.devmajor,
        devminor: h.devminor,
        xattrs: {},
      };
      for (const [k, v] of pax) {
        if (k.startsWith('SCHILY.xattr.')) entry.xattrs[k.slice(13)] = v;
        else if (k.startsWith('LIBARCHIVE.xattr.')) {
          let xname: string;
          try {
            xname = decodeURIComponent(k.slice(17));
          } catch {
            throw new TarFormatError(`tar: PAX record "${k}" of "${name}": malformed %-escape`);
          }
          entry.xattrs[xname] = Buffer.from(v.toString(), 'base64');
        }
      }
      localPax = null;
      longName = null;
      longLink = null;
      entries++;
      // Hard links, symlinks and directories carry no data even if a size is set (some writers do).
      const dataSize = entry.type === 'file' ? entry.size : 0;
      if (entry.type !== 'file') entry.size = 0;
      let remaining = dataSize;
      const body = (async function* () {
        try {
          while (remaining > 0) {
            const n = Math.min(remaining, 1 << 20);
            for await (const c of bs.chunks(n)) {
              remaining -= c.length;
              yield c;
            }
          }
        } catch (e) {
          if (e instanceof TruncatedError) throw new TarFormatError(`tar: truncated data of "${name}"`);
          throw e;
        }
      })();
      yield { entry, body };
      // skip whatever the consumer left unread
      try {
        await bs.skip(remaining);
      } catch (e) {
        if (e instanceof TruncatedError) throw new TarFormatError(`tar: truncated data of "${name}"`);
        throw e;
      }
      try {
        await bs.skip(padding(dataSize));
      } catch (e) {
        if (e instanceof TruncatedError) {
          if (opts.lenientEnd) return;
          throw new TarFormatError(`tar: truncated padding of "${name}"`);
        }
        throw e;
      }
    }
  } finally {
    await bs.return();
  }
}
