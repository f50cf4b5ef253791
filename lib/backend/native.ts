/**
 * Loading the native addon. Its entry points and their argument kinds are declared once, in
 * native/binding/entry_points.def; native.generated.ts (made from it) types them and the op codes.
 */
import * as path from 'path';
import type { NativeEntryPoints } from './native.generated';

/** One argument of an entry point, as the addon describes it. */
export interface EntryArgument {
  name: string;
  kind: 'int' | 'flag' | 'enum' | 'number' | 'anyNumber' | 'ints' | 'buffer' | 'optional' | 'host' | 'object';
  lo?: number;
  hi?: number;
  list?: string;
  dtypes?: 'float' | 'int32' | 'any';
  count?: number;
}

/** The addon: its entry points, the table describing them, and the codes of kernels.h's lists. */
export type NativeBinding = NativeEntryPoints & {
  entryPoints: Record<string, EntryArgument[]>;
  enums: Record<string, Record<string, number>>;
};

/** The package root: where package.json, build/ and prebuilds/ live (dist/lib/backend → ../../..). */
export const packageRoot = path.resolve(__dirname, '..', '..', ...(path.basename(path.resolve(__dirname, '..', '..')) === 'dist' ? ['..'] : []));

function load(): NativeBinding {
  // node-gyp-build picks prebuilds/<platform>-<arch>/ first, then build/Release (node-gyp or cmake-js).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const nodeGypBuild = require('node-gyp-build') as (dir: string) => NativeBinding;
  return nodeGypBuild(packageRoot);
}

/** The loaded addon. */
export const native: NativeBinding = load();
