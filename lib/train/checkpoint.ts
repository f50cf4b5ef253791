/**
 * Checkpoints in safetensors: the model's weights and buffers under their state-dict names (so PyTorch reads them
 * as they are), the optimiser's and scheduler's state (their tensors under `optimizer.…`, the rest as JSON), the
 * epoch, the step, the random generator's state, and the model config and preprocessing, all in `__metadata__`.
 * Written atomically (temp file, fsync, rename): a process killed mid-write leaves the previous checkpoint intact.
 */
import { Tensor } from '../tensor';
import { saveFile, loadFile } from '../io/safetensors';

/** What a checkpoint holds besides the model's tensors. */
export interface CheckpointMeta {
  /** The epoch just finished (0-based), and the optimiser steps taken so far. */
  epoch: number;
  step: number;
  /** ns.rngState() when the checkpoint was written. */
  rng?: { seed: number; offset: number };
  /** Anything JSON-able: the model's config (what builds it again), the preprocessing, the run's history. */
  config?: Record<string, unknown>;
  preprocessing?: Record<string, unknown>;
  history?: unknown[];
  /** The optimiser's and scheduler's state dicts (tensors allowed anywhere inside). */
  optimizer?: unknown;
  scheduler?: unknown;
}

const TENSOR_REF = '$tensor';

/** Replaces every tensor inside `value` by { $tensor: name }, collecting it under `prefix.path`. */
function extractTensors(value: unknown, prefix: string, out: Record<string, Tensor>): unknown {
  if (value instanceof Tensor) {
    out[prefix] = value;
    return { [TENSOR_REF]: prefix };
  }
  if (Array.isArray(value)) return value.map((v, i) => extractTensors(v, `${prefix}.${i}`, out));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, extractTensors(v, `${prefix}.${k}`, out)]));
  }
  return value;
}

/** The inverse of extractTensors. */
function restoreTensors(value: unknown, tensors: Record<string, Tensor>): unknown {
  if (Array.isArray(value)) return value.map((v) => restoreTensors(v, tensors));
  if (value !== null && typeof value === 'object') {
    const ref = (value as Record<string, unknown>)[TENSOR_REF];
    if (typeof ref === 'string') {
      const t = tensors[ref];
      if (!t) throw new Error(`loadCheckpoint: the checkpoint refers to tensor '${ref}' but does not hold it`);
      return t;
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, restoreTensors(v, tensors)]));
  }
  return value;
}

/** Writes `model` (its state dict) and `meta` to `path` atomically. */
export async function saveCheckpoint(path: string, modelState: Record<string, Tensor>, meta: CheckpointMeta): Promise<void> {
  const tensors: Record<string, Tensor> = { ...modelState };
  const optimizer = extractTensors(meta.optimizer ?? null, 'optimizer', tensors);
  const scheduler = extractTensors(meta.scheduler ?? null, 'scheduler', tensors);
  const metadata: Record<string, string> = {
    format: 'neural-similarity checkpoint 1',
    epoch: String(meta.epoch),
    step: String(meta.step),
    optimizer: JSON.stringify(optimizer),
    scheduler: JSON.stringify(scheduler),
  };
  if (meta.rng) metadata.rng = JSON.stringify(meta.rng);
  if (meta.config) metadata.config = JSON.stringify(meta.config);
  if (meta.preprocessing) metadata.preprocessing = JSON.stringify(meta.preprocessing);
  if (meta.history) metadata.history = JSON.stringify(meta.history);
  await saveFile(path, tensors, metadata);
}

/** A checkpoint read back: the model's tensors (every tensor not under optimizer./scheduler.) and the metadata. */
export interface LoadedCheckpoint {
  model: Record<string, Tensor>;
  meta: CheckpointMeta;
}

/** Reads a checkpoint written by saveCheckpoint (or any safetensors file of a state dict: meta then has defaults). */
export async function loadCheckpoint(path: string): Promise<LoadedCheckpoint> {
  const { tensors, metadata } = await loadFile(path);
  const json = (key: string): unknown => {
    const text = metadata[key];
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text);
    } catch {
      throw new Error(`loadCheckpoint: ${path}: metadata '${key}' is not JSON`);
    }
  };
  const model: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(tensors)) {
    if (!name.startsWith('optimizer.') && !name.startsWith('scheduler.')) model[name] = t;
  }
  const meta: CheckpointMeta = {
    epoch: Number(metadata.epoch ?? -1),
    step: Number(metadata.step ?? 0),
    rng: json('rng') as CheckpointMeta['rng'],
    config: json('config') as CheckpointMeta['config'],
    preprocessing: json('preprocessing') as CheckpointMeta['preprocessing'],
    history: json('history') as unknown[] | undefined,
    optimizer: restoreTensors(json('optimizer') ?? null, tensors),
    scheduler: restoreTensors(json('scheduler') ?? null, tensors),
  };
  return { model, meta };
}
