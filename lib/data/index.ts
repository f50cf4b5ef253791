/**
 * Datasets, loaders and image transforms (ns.data).
 *
 *   const { data } = ns;
 *   const { transforms: T } = data;
 *   const train = await data.ImageFolder.load('cifar10-jpg.tar.gz', {
 *     subdir: 'train',
 *     transform: T.compose([T.randomCrop(32, { padding: 4, paddingMode: 'reflect' }), T.randomHorizontalFlip(), T.toTensor()]),
 *   });
 *   const loader = new data.DataLoader(train, { batchSize: 128, shuffle: true, seed: 0, numWorkers: 2 });
 *   for await (const [x, y] of loader) { ... }
 */
export { readIdx, loadIdx } from './idx';
export type { IdxArray } from './idx';
export { loadMnist, MNIST, FashionMNIST } from './mnist';
export type { ImageSet, MnistOptions } from './mnist';
export { TensorDataset, DataLoader, defaultCollate } from './loader';
export type { Dataset, DataLoaderOptions, Collated } from './loader';
export { ImageDataset } from './images';
export type { RawImage } from './augment';
export { ImageFolder } from './imagefolder';
export type { ImageFolderOptions } from './imagefolder';
export { CIFAR10 } from './cifar';
export type { Cifar10Options } from './cifar';
export * as transforms from './transforms';
export type { Transform } from './transforms';
