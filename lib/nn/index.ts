/**
 * Layers (ns.nn), PyTorch-style.
 */
export { Module } from './module';
export {
  Linear, Conv2d, BatchNorm2d, ReLU, Sigmoid, Tanh, MaxPool2d, AvgPool2d, GlobalAvgPool2d, Flatten, Dropout, Sequential,
} from './layers';
export type { LayerOptions, Conv2dLayerOptions } from './layers';
export { SimilarityConv2d, SphereConv2d, DynamicSimilarityConv2d, DynamicFilterConv2d } from './similarity';
export type {
  SimilarityConv2dLayerOptions, SphereConv2dOptions, DynamicSimilarityConv2dOptions, DynamicFilterConv2dOptions,
} from './similarity';
export * as init from './init';
