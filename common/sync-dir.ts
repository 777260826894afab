// A directory's entries made durable: after creating or renaming a file in it, its fsync is what makes the new
// name survive a crash (the file's own fsync covers only its contents).
import { open } from 'node:fs/promises';

export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
