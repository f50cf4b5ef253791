/**
 * Layers (ns.nn), PyTorch-style.
 */
export { Module } from './module';
export {
  Linear, Conv2d, BatchNorm2d, ReLU, Sigmoid, Tanh, MaxPool2d, AvgPool2d, GlobalAvgPool2d, Flatten, Dropout, Sequential,
} from './layers';
export type { LayerOptions, Conv2dLayerOptions } from './layers';
export * as init from './init';
