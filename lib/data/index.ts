/**
 * Datasets and loaders (ns.data).
 */
export { readIdx } from './idx';
export type { IdxArray } from './idx';
export { loadMnist } from './mnist';
export type { ImageSet } from './mnist';
export { TensorDataset, DataLoader } from './loader';
export type { DataLoaderOptions } from './loader';
