// The data key on a manager's disk: one small JSON file, 0600, in a 0700 directory, written atomically
// (tmp + fsync + rename). A file that is there but unreadable is an error naming it, never a new key.
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ShoalError } from '../../common/errors.js';
import { checkDataKey, type DataKey } from './cipher.js';

const FORMAT = 1;

export async function loadDataKey(file: string): Promise<DataKey | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const raw = JSON.parse(text) as { version?: unknown; id?: unknown; key?: unknown };
    if (raw.version !== FORMAT || typeof raw.id !== 'string' || typeof raw.key !== 'string')
      throw new Error(`want {"version":${FORMAT},"id","key"}`);
    return checkDataKey({ id: raw.id, key: Buffer.from(raw.key, 'base64') }, file);
  } catch (err) {
    throw new ShoalError('internal', `${file}: not a valid data key file (${(err as Error).message})`);
  }
}

export async function saveDataKey(file: string, k: DataKey): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp`;
  try {
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(`${JSON.stringify({ version: FORMAT, id: k.id, key: k.key.toString('base64') })}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
