/** Test helper: copying chosen files out of a .tar.gz (the shared datasets) into a folder. */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import * as tar from 'tar-stream';

/** Copies the archive's files accepted by `keep` (path inside the archive) under `dest`, stopping after `limit`. */
export async function extract(archive: string, dest: string, keep: (name: string) => boolean, limit: number): Promise<string[]> {
  const kept: string[] = [];
  const ex = tar.extract();
  const source = fs.createReadStream(archive);
  source.pipe(zlib.createGunzip()).pipe(ex);
  for await (const entry of ex) {
    if (kept.length === limit) {
      source.destroy();
      break;
    }
    const name = entry.header.name;
    if (entry.header.type !== 'file' || !keep(name)) {
      entry.resume();
      continue;
    }
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    fs.mkdirSync(path.join(dest, path.dirname(name)), { recursive: true });
    fs.writeFileSync(path.join(dest, name), Buffer.concat(chunks));
    kept.push(name);
  }
  return kept;
}

