/**
 * ns.models: the networks of the paper and of the main job, each buildable from a small JSON config (which
 * checkpoints store, so `eval` and `predict` rebuild the model they were trained with).
 *
 * - cifar9: the 9-layer network of the authors' released code for CIFAR: a plain 3×3 stem of width 32, then
 *   three stages of three 3×3 layers of widths 32, 64, 128, each followed by BN and ReLU, 2×2 max-pool after each
 *   stage, and a 4×4 convolution as classifier; its nine stage layers plain, static (diagonal, spatial) or dynamic
 *   (diagonal, spatial), or dynamic filters.
 * - conv4: the few-shot backbone (four blocks of 3×3 convolution of width 64, BN, ReLU, 2×2 max-pool, then
 *   flattened), its first layer plain (a stem, as in cifar9) and its other three of any kind.
 * - smallCnn: the main job's MNIST network (two conv–BN–ReLU–pool blocks and a linear classifier), plain or with
 *   dynamic neural-similarity layers.
 */
import { Module } from '../nn/module';
import { BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential } from '../nn/layers';
import { DynamicFilterConv2d, DynamicSimilarityConv2d, SimilarityConv2d } from '../nn/similarity';
import { kaimingNormal } from '../nn/init';
import { noGrad } from '../autograd/node';
import { checkInt, checkOptions } from '../ops/util';

/** The kinds of layer a network's similarity slots can hold. */
export const LAYER_KINDS = ['plain', 'static-diagonal', 'static-spatial', 'dynamic-diagonal', 'dynamic-spatial', 'dynamic-filter'] as const;
export type LayerKind = typeof LAYER_KINDS[number];

/** A network's recipe: what `buildModel` needs to make it again. */
export interface ModelConfig {
  name: 'cifar9' | 'smallCnn' | 'conv4';
  kind: LayerKind;
  inChannels: number;
  /** Classes of the classifier (cifar9, smallCnn); conv4 has no classifier. */
  classes?: number;
  /** Side of the square inputs (cifar9: default 32, the classifier's kernel follows it). */
  inputSize?: number;
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

/**
 * The paper's 9-layer CIFAR network with its nine stage layers of `kind`. Inputs are inputSize×inputSize
 * (default 32); the classifier's kernel is the side of the last feature map (4 for 32, 3 for 28: Fashion-MNIST).
 */
export function cifar9(kind: LayerKind = 'plain', options: { inChannels?: number; classes?: number; inputSize?: number } = {}): Sequential {
  checkOptions('cifar9', options, ['inChannels', 'classes', 'inputSize']);
  checkKind('cifar9', kind);
  const inChannels = checkInt('cifar9', 'inChannels', options.inChannels ?? 3, 1);
  const classes = checkInt('cifar9', 'classes', options.classes ?? 10, 1);
  const inputSize = checkInt('cifar9', 'inputSize', options.inputSize ?? 32, 8);
  const mods: Module[] = [new Conv2d(inChannels, 32, 3, { padding: 1, bias: false }), new BatchNorm2d(32), new ReLU()];
  for (const [c, f] of [[32, 32], [32, 64], [64, 128]]) {
    for (const [ci, fi] of [[c, f], [f, f], [f, f]]) mods.push(similarityLayer(kind, ci, fi), new BatchNorm2d(fi), new ReLU());
    mods.push(new MaxPool2d(2));
  }
  mods.push(new Conv2d(128, classes, inputSize >> 3), new Flatten());
  const model = new Sequential(...mods);
  heInit(model);
  return model;
}

/**
 * The Conv-4 few-shot backbone: four blocks of a 3×3 layer of width 64, BN, ReLU and 2×2 max-pool, then
 * flattened (a 28×28 input gives 64 features, 84×84 gives 1,600). The first layer is plain, the other three
 * of `kind`; He-normal initialisation.
 */
export function conv4(kind: LayerKind = 'plain', options: { inChannels?: number } = {}): Sequential {
  checkOptions('conv4', options, ['inChannels']);
  checkKind('conv4', kind);
  const inChannels = checkInt('conv4', 'inChannels', options.inChannels ?? 1, 1);
  const mods: Module[] = [];
  for (let b = 0; b < 4; b++) {
    const layer = b === 0 ? new Conv2d(inChannels, 64, 3, { padding: 1, bias: false }) : similarityLayer(kind, 64, 64);
    mods.push(layer, new BatchNorm2d(64), new ReLU(), new MaxPool2d(2));
  }
  const model = new Sequential(...mods, new Flatten());
  heInit(model);
  return model;
}

/** The main job's MNIST network (28×28 inputs): two 3×3 blocks of width 16 and 32, then a linear classifier. */
export function smallCnn(kind: LayerKind = 'plain', options: { inChannels?: number; classes?: number } = {}): Sequential {
  checkOptions('smallCnn', options, ['inChannels', 'classes']);
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
  if (config.name === 'cifar9') return cifar9(config.kind, { ...options, inputSize: config.inputSize });
  if (config.name === 'smallCnn') return smallCnn(config.kind, options);
  if (config.name === 'conv4') return conv4(config.kind, { inChannels: config.inChannels });
  throw new TypeError(`buildModel: expected name 'cifar9', 'smallCnn' or 'conv4' but got ${String((config as { name?: unknown }).name)}`);
}
