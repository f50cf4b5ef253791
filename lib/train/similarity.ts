/**
 * What similarity layers learned, for the report: each static M (diagonal taps or K×K mix) read from its parameter,
 * and the mean dynamic m over an evaluation (the per-sample, per-position predictions averaged), observed by
 * wrapping each dynamic layer's predict() while the evaluation runs.
 */
import { Module } from '../nn/module';
import { SimilarityConv2d, DynamicSimilarityConv2d } from '../nn/similarity';
import { Tensor } from '../tensor';
import { mean } from '../ops/reduce';
import { noGrad } from '../autograd/node';
import type { SimilarityPicture } from '../report';

/** Sums of the mean prediction of every dynamic layer, while observing. */
export class DynamicObserver {
  private readonly sums = new Map<string, { layer: DynamicSimilarityConv2d; sum: Float64Array; batches: number }>();
  private readonly restore: (() => void)[] = [];
  constructor(model: Module) {
    for (const [name, m] of model.namedModules()) {
      if (!(m instanceof DynamicSimilarityConv2d)) continue;
      const layer = m;
      const predict = layer.predict.bind(layer);
      const entry = { layer, sum: new Float64Array(0), batches: 0 };
      this.sums.set(name, entry);
      layer.predict = (x: Tensor): Tensor => {
        const out = predict(x);
        const avg = noGrad(() => mean(out, [0, 2, 3]).dataSync());
        if (entry.sum.length === 0) entry.sum = new Float64Array(avg.length);
        avg.forEach((v, i) => (entry.sum[i] += v));
        entry.batches++;
        return out;
      };
      this.restore.push(() => {
        delete (layer as { predict?: unknown }).predict;
      });
    }
  }
  /** Stops observing; the mean prediction of each dynamic layer observed at least once. */
  stop(): SimilarityPicture[] {
    for (const r of this.restore) r();
    const out: SimilarityPicture[] = [];
    for (const [name, { layer, sum, batches }] of this.sums) {
      if (!batches) continue;
      const [, , kh, kw] = layer.weight.shape;
      out.push({ layer: name, kind: layer.form === 'diagonal' ? 'dynamic-diagonal' : 'dynamic-spatial', kernel: [kh, kw],
        values: Array.from(sum, (v) => v / batches) });
    }
    return out;
  }
}

/** The static similarity matrices of `model`, plus the dynamic means an observer collected. */
export function collectSimilarity(model: Module, dynamic: SimilarityPicture[] = []): SimilarityPicture[] {
  const out: SimilarityPicture[] = [];
  for (const [name, m] of model.namedModules()) {
    if (!(m instanceof SimilarityConv2d)) continue;
    const [, , kh, kw] = m.weight.shape;
    out.push({ layer: name, kind: `static-${m.form}` as SimilarityPicture['kind'], kernel: [kh, kw], values: Array.from(m.m.dataSync()) });
  }
  return [...out, ...dynamic];
}
