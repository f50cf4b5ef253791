/**
 * HTML reports of training runs and experiments: self-contained files (inline CSS and SVG charts, no
 * script, no network) showing configuration, curves per epoch, final metrics, the confusion matrix and
 * what the similarity layers learned.
 *
 *   const html = renderRunReport(run);
 *   await writeReport('runs/cifar-nsl/report.html', html);
 */
export { renderRunReport, renderExperimentReport } from './html';
export { writeReport } from './write';
export type { RunRecord, EpochRecord, FinalMetrics, SimilarityPicture, SimilarityKind, ExperimentSummary } from './types';
