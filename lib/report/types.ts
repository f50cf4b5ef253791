/**
 * What the report generator reads: one training run (its configuration, per-epoch metrics, final test
 * metrics and the similarity each neural-similarity layer learned). Plain data, so a run can be saved as
 * JSON and reported later.
 */

/** Metrics of one epoch. Accuracies are fractions in [0, 1] (shown as percentages). */
export interface EpochRecord {
  /** Epoch number (the x axis of the curves; usually 1, 2, …). */
  epoch: number;
  /** Mean training loss over the epoch. */
  trainLoss: number;
  /** Training accuracy, a fraction in [0, 1]. */
  trainAccuracy?: number;
  /** Validation loss after the epoch. */
  valLoss?: number;
  /** Validation (top-1) accuracy, a fraction in [0, 1]. */
  valAccuracy?: number;
  /** Validation top-5 accuracy, a fraction in [0, 1]. */
  top5?: number;
  /** Learning rate used in the epoch. */
  lr?: number;
  /** Wall-clock seconds the epoch took. */
  seconds?: number;
  /** Training throughput in images per second. */
  imagesPerSecond?: number;
}

/** Final test metrics of a run. */
export interface FinalMetrics {
  /** Test loss. */
  loss: number;
  /** Test (top-1) accuracy, a fraction in [0, 1]. */
  accuracy: number;
  /** Test top-5 accuracy, a fraction in [0, 1]. */
  top5?: number;
  /** Confusion counts: `confusion[t][p]` = test samples of true class t predicted as class p (square). */
  confusion?: number[][];
  /** Class names, one per confusion row (indices are shown when absent). */
  classes?: string[];
}

/** The forms of a learned similarity matrix M (DESIGN.md §2). */
export type SimilarityKind = 'static-diagonal' | 'static-spatial' | 'static-full' | 'dynamic-diagonal' | 'dynamic-spatial';

/**
 * What one similarity layer learned, K = kh·kw taps (tap a = i·kw + j, row-major):
 * - `static-diagonal`: the K taps of m;
 * - `static-spatial`: the K×K matrix M, row-major (`values[a·K + b]`);
 * - `static-full`: the (C·K)×(C·K) matrix M over the flattened patch (index c·K + a), row-major;
 * - `dynamic-diagonal`: the mean of m = 1 + g(x) over the test set, K values;
 * - `dynamic-spatial`: the mean of M = I + g(x) over the test set, K×K row-major.
 */
export interface SimilarityPicture {
  /** The layer's name (for example its state-dict prefix). */
  layer: string;
  /** Which form of M the values hold. */
  kind: SimilarityKind;
  /** Kernel size [kh, kw]. */
  kernel: [number, number];
  /** The values, laid out as `kind` says. */
  values: number[];
}

/** One training run: what the report of a run shows, and what an experiment report compares. */
export interface RunRecord {
  /** The run's name (any text; it is escaped). */
  name: string;
  /** Configuration: model, dataset, epochs, batch size, lr, device, … (values shown as text or JSON). */
  config: Record<string, unknown>;
  /** Per-epoch metrics, in training order. */
  epochs: EpochRecord[];
  /** Final test metrics. */
  final?: FinalMetrics;
  /** What the similarity layers learned, one picture per layer. */
  similarity?: SimilarityPicture[];
}

/** A free-form table shown at the top of an experiment report (cells are escaped; numbers formatted). */
export interface ExperimentSummary {
  /** Column headings. */
  columns: string[];
  /** Rows, each with one cell per column. */
  rows: (string | number)[][];
}
