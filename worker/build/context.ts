// The build context: the tar a client sends (plain or compressed), unpacked by the image store's
// hardened unpacker (no "..", no absolute names, links resolved inside), then the Dockerfile read
// and what `.dockerignore` names removed, so no instruction can see it.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ignoreRules } from '../../common/dockerignore.js';
import { ShoalError } from '../../common/errors.js';
import { decompressStream, UnsafeLayerError, unpackLayer } from '../images/index.js';
import { resolveInRoot } from './inroot.js';

export interface BuildContext {
  dir: string;
  dockerfile: string;
}

const MAX_DOCKERFILE = 4 << 20;

export class ContextError extends ShoalError {
  constructor(message: string) {
    super('invalid_argument', message, { field: 'context' });
    this.name = 'ContextError';
  }
}

async function readSmall(file: string, what: string): Promise<string | undefined> {
  let st: import('node:fs').Stats;
  try {
    st = await fs.stat(file);
  } catch {
    return undefined;
  }
  if (!st.isFile()) return undefined;
  if (st.size > MAX_DOCKERFILE) throw new ContextError(`${what} is larger than ${MAX_DOCKERFILE} bytes`);
  return fs.readFile(file, 'utf8');
}

/** Removes what the rules ignore (walking into ignored dirs only when `!` exceptions may keep something). */
async function applyIgnore(root: string, text: string | undefined): Promise<void> {
  const rules = ignoreRules(text);
  async function walk(rel: string): Promise<boolean> {
    // returns whether the directory still holds something
    const names = await fs.readdir(path.join(root, rel));
    let kept = 0;
    for (const n of names) {
      const r = rel ? `${rel}/${n}` : n;
      const abs = path.join(root, r);
      const st = await fs.lstat(abs);
      const ignored = rules.ignores(r);
      if (st.isDirectory() && (!ignored || rules.hasExceptions)) {
        const keepsSome = await walk(r);
        if (ignored && !keepsSome) await fs.rm(abs, { recursive: true, force: true });
        else kept++;
        continue;
      }
      if (ignored) await fs.rm(abs, { recursive: true, force: true });
      else kept++;
    }
    return kept > 0;
  }
  await walk('');
}

/** Unpacks the context into `dir` (which must exist, empty) and reads the Dockerfile named `dockerfile`. */
export async function openContext(
  src: AsyncIterable<Buffer>,
  dir: string,
  dockerfile = 'Dockerfile',
): Promise<BuildContext> {
  try {
    await unpackLayer(decompressStream(src), dir, {}, { lenientEnd: true });
  } catch (e) {
    if (e instanceof UnsafeLayerError) throw new ContextError(`build context: ${(e as Error).message}`);
    throw new ContextError(`build context: not a valid tar archive: ${(e as Error).message}`);
  }
  const file = await resolveInRoot(dir, dockerfile);
  const text = await readSmall(file, dockerfile);
  if (text === undefined) throw new ContextError(`Cannot locate specified Dockerfile: ${dockerfile}`);
  const ignore = await readSmall(path.join(dir, '.dockerignore'), '.dockerignore');
  await applyIgnore(dir, ignore);
  return { dir, dockerfile: text };
}
