/**
 * Atomic file replacement: the bytes go to a temporary file in the target's folder, which is flushed to
 * disk (fsync), renamed over the target, and the folder is flushed too. A process killed at any moment
 * leaves either the previous file or the complete new one, never a mix (at worst a stray temporary file
 * named `.<name>.<pid>.<random>.tmp` stays behind).
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

/** Largest slice handed to one write() call (the OS may cap a single write near 2 GiB). */
const WRITE_SLICE = 64 << 20;

/** The temporary name used for `file` (same folder, hidden, unique per process and call). */
function temporaryName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.tmp`);
}

/** Flushes a folder's entries (the rename) to disk; folders cannot be opened for that on Windows. */
async function syncFolder(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await fs.promises.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes `chunks` (in order) to `file` atomically: temporary file, fsync, rename, fsync of the folder.
 * The chunks may come from an async generator, so large contents are never held in memory at once.
 */
export async function writeFileAtomic(file: string, chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<void> {
  const tmp = temporaryName(file);
  const handle = await fs.promises.open(tmp, 'wx');
  try {
    for await (const chunk of chunks) {
      for (let begin = 0; begin < chunk.byteLength; ) {
        const { bytesWritten } = await handle.write(chunk, begin, Math.min(WRITE_SLICE, chunk.byteLength - begin));
        begin += bytesWritten;
      }
    }
    await handle.sync();
  } catch (err) {
    await handle.close();
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
  await handle.close();
  try {
    await fs.promises.rename(tmp, file);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
  await syncFolder(path.dirname(file));
}
