/**
 * Layers (ns.nn), PyTorch-style: Module and its containers, the standard layers, the neural similarity
 * layers, initialisers (ns.nn.init) and functional forms (ns.nn.functional).
 */
export { Module } from './module';
export type { LoadStateDictOptions, LoadStateDictResult, RegisterBufferOptions } from './module';
export type { ModelSummary, LayerSummary, SummaryOptions } from './summary';
export {
  Linear, Conv2d, BatchNorm, BatchNorm1d, BatchNorm2d, ReLU, LeakyReLU, GELU, Sigmoid, Tanh, Identity, MaxPool2d, AvgPool2d,
  AdaptiveAvgPool2d, GlobalAvgPool2d, Flatten, Dropout, Sequential, ModuleList,
} from './layers';
export type { LayerOptions, Conv2dLayerOptions, BatchNormLayerOptions, GELUOptions } from './layers';
export type { AdaptiveSize, GeluApproximation } from './functional';
export { SimilarityConv2d, SphereConv2d, DynamicSimilarityConv2d, DynamicFilterConv2d } from './similarity';
export type {
  ConvGeometryOptions, SimilarityConv2dLayerOptions, SphereConv2dOptions, DynamicSimilarityConv2dOptions, DynamicFilterConv2dOptions,
} from './similarity';
export * as init from './init';
export type { KaimingOptions, Nonlinearity } from './init';
export * as functional from './functional';
