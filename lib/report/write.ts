/** Writing a report to disk. */
import { writeFileAtomic } from '../io/atomic';

/**
 * Writes the HTML `html` (from renderRunReport or renderExperimentReport) to `path` atomically, as UTF-8:
 * the bytes go to a temporary file in the same folder, which is flushed and renamed over `path`, so a
 * reader (or a browser refreshing the page during training) sees the previous report or the new one, never
 * a part of one. The folder must exist.
 */
export async function writeReport(path: string, html: string): Promise<void> {
  await writeFileAtomic(path, [Buffer.from(html, 'utf8')]);
}
