/**
 * ns.train: the fit loop, evaluation, callbacks and checkpoints.
 */
export { fit, evaluate, EarlyStopping } from './fit';
export type { FitOptions, History, EpochLog, Callback, EvaluateResult, Batch, BatchSource, FitOptimizer, FitScheduler } from './fit';
export { saveCheckpoint, loadCheckpoint } from './checkpoint';
export type { CheckpointMeta, LoadedCheckpoint } from './checkpoint';
export { imageInput } from './run';
export type { Preprocessing } from './run';
export { recomputeBatchNorm } from './fit';
