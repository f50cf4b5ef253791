/**
 * ns.models: the networks of the paper and of the main job, each buildable from a small JSON config (which
 * checkpoints store, so `eval` and `predict` rebuild the model they were trained with).
 *
 * - cifar9: the 9-layer network of the authors' released code for CIFAR: a plain 3×3 stem of width 32, then
 *   three stages of three 3×3 layers of widths 32, 64, 128, each followed by BN and ReLU, 2×2 max-pool after each
 *   stage, and a 4×4 convolution as classifier; its nine stage layers plain, static (diagonal, spatial) or dynamic
 *   (diagonal, spatial), or dynamic filters.
 * - smallCnn: the main job's MNIST network (two conv–BN–ReLU–pool blocks and a linear classifier), plain or with
 *   dynamic neural-similarity layers.
 */
import { Module } from '../nn/module';
import { BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential } from '../nn/layers';
import { DynamicFilterConv2d, DynamicSimilarityConv2d, SimilarityConv2d } from '../nn/similarity';
import { kaimingNormal } from '../nn/init';
import { noGrad } from '../autograd/node';
import { checkInt } from '../ops/util';

/** The kinds of layer a network's similarity slots can hold. */
export const LAYER_KINDS = ['plain', 'static-diagonal', 'static-spatial', 'dynamic-diagonal', 'dynamic-spatial', 'dynamic-filter'] as const;
export type LayerKind = typeof LAYER_KINDS[number];

/** A network's recipe: what `buildModel` needs to make it again. */
export interface ModelConfig {
  name: 'cifar9' | 'smallCnn';
  kind: LayerKind;
  inChannels: number;
  classes: number;
}

function checkKind(op: string, kind: unknown): LayerKind {
  if (!LAYER_KINDS.includes(kind as LayerKind)) {
    throw new TypeError(`${op}: expected kind to be one of ${LAYER_KINDS.join(', ')} but got ${String(kind)}`);
  }
  return kind as LayerKind;
}

/** A 3×3, stride-1, padding-1 layer of the given kind (no bias: BN follows). */
export function similarityLayer(kind: LayerKind, c: number, f: number): Module {
  const geometry = { padding: 1, bias: false } as const;
  switch (kind) {
    case 'plain': return new Conv2d(c, f, 3, geometry);
    case 'static-diagonal': return new SimilarityConv2d(c, f, 3, { ...geometry, form: 'diagonal' });
    case 'static-spatial': return new SimilarityConv2d(c, f, 3, { ...geometry, form: 'spatial' });
    case 'dynamic-diagonal': return new DynamicSimilarityConv2d(c, f, 3, { ...geometry, form: 'diagonal' });
    case 'dynamic-spatial': return new DynamicSimilarityConv2d(c, f, 3, { ...geometry, form: 'spatial' });
    default: return new DynamicFilterConv2d(c, f, 3, geometry);
  }
}

/** He-normal initialisation of every convolution weight (the authors' recipe). */
function heInit(model: Module): void {
  noGrad(() => {
    for (const [name, p] of model.namedParameters()) {
      if (p.rank === 4 && name.endsWith('weight') && !name.includes('head')) kaimingNormal(p);
    }
  });
}

/** The paper's 9-layer CIFAR network (32×32 inputs) with its nine stage layers of `kind`. */
export function cifar9(kind: LayerKind = 'plain', options: { inChannels?: number; classes?: number } = {}): Sequential {
  checkKind('cifar9', kind);
  const inChannels = checkInt('cifar9', 'inChannels', options.inChannels ?? 3, 1);
  const classes = checkInt('cifar9', 'classes', options.classes ?? 10, 1);
  const mods: Module[] = [new Conv2d(inChannels, 32, 3, { padding: 1, bias: false }), new BatchNorm2d(32), new ReLU()];
  for (const [c, f] of [[32, 32], [32, 64], [64, 128]]) {
    for (const [ci, fi] of [[c, f], [f, f], [f, f]]) mods.push(similarityLayer(kind, ci, fi), new BatchNorm2d(fi), new ReLU());
    mods.push(new MaxPool2d(2));
  }
  mods.push(new Conv2d(128, classes, 4), new Flatten());
  const model = new Sequential(...mods);
  heInit(model);
  return model;
}

/** The main job's MNIST network (28×28 inputs): two 3×3 blocks of width 16 and 32, then a linear classifier. */
export function smallCnn(kind: LayerKind = 'plain', options: { inChannels?: number; classes?: number } = {}): Sequential {
  checkKind('smallCnn', kind);
  const inChannels = checkInt('smallCnn', 'inChannels', options.inChannels ?? 1, 1);
  const classes = checkInt('smallCnn', 'classes', options.classes ?? 10, 1);
  return new Sequential(
    similarityLayer(kind, inChannels, 16), new BatchNorm2d(16), new ReLU(), new MaxPool2d(2),
    similarityLayer(kind, 16, 32), new BatchNorm2d(32), new ReLU(), new MaxPool2d(2),
    new Flatten(), new Linear(32 * 7 * 7, classes),
  );
}

/** Builds the network a config describes. */
export function buildModel(config: ModelConfig): Sequential {
  if (config === null || typeof config !== 'object') throw new TypeError(`buildModel: expected a model config but got ${String(config)}`);
  const options = { inChannels: config.inChannels, classes: config.classes };
  if (config.name === 'cifar9') return cifar9(config.kind, options);
  if (config.name === 'smallCnn') return smallCnn(config.kind, options);
  throw new TypeError(`buildModel: expected name 'cifar9' or 'smallCnn' but got ${String((config as { name?: unknown }).name)}`);
}
