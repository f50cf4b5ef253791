/**
 * Loading the native addon. Its entry points and their argument kinds are declared once, in
 * native/binding/entry_points.def; native.generated.ts (made from it) types them and the op codes.
 */
import * as fs from 'fs';
import * as path from 'path';
import { isNativeError } from 'util/types';
import type { NativeEntryPoints } from './native.generated';

/** One argument of an entry point, as the addon describes it. */
export interface EntryArgument {
  name: string;
  kind: 'int' | 'flag' | 'enum' | 'number' | 'anyNumber' | 'ints' | 'buffer' | 'optional' | 'anyDevice' | 'host' | 'object';
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

/** The package root: the nearest folder above this file holding package.json (where build/ and prebuilds/ live). */
export const packageRoot = ((): string => {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`neural-similarity: no package.json above ${__dirname}`);
  }
})();

function load(): NativeBinding {
  // node-gyp-build picks prebuilds/<platform>-<arch>/ first, then build/Release (node-gyp or cmake-js).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const nodeGypBuild = require('node-gyp-build') as (dir: string) => NativeBinding;
  const addon = nodeGypBuild(packageRoot);
  // An entry point that fails returns its Error rather than throwing it (why: native/binding/binding.cc); thrown here.
  const binding: Record<string, unknown> = { ...addon };
  for (const name of Object.keys(addon.entryPoints)) {
    const entry = (addon as unknown as Record<string, (...args: unknown[]) => unknown>)[name];
    binding[name] = (...args: unknown[]): unknown => {
      const result = entry(...args);
      if (isNativeError(result)) throw result;  // (made in the addon's realm: instanceof Error may not see it)
      return result;
    };
  }
  return binding as unknown as NativeBinding;
}

/** The loaded addon. */
export const native: NativeBinding = load();
