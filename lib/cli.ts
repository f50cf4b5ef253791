#!/usr/bin/env node
/**
 * Command line: `neural-similarity train | bench [name…] | info`.
 */
import * as path from 'path';
import * as fs from 'fs';
import { trainMnist } from './train/mnist';
import { backendInfo } from './backend/info';
import * as cuda from './backend/cuda';
import { memory } from './memory';

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

async function main(argv: string[]): Promise<number> {
  const [command = 'help', ...args] = argv;
  switch (command) {
    case 'train': {
      const seconds = Number(flag(args, 'seconds') ?? 60);
      if (!(seconds > 0)) throw new RangeError(`train: expected --seconds to be a positive number but got ${flag(args, 'seconds')}`);
      trainMnist({ seconds });
      return 0;
    }
    case 'bench': {
      const dir = path.resolve(__dirname, '..', 'bench');
      const available = fs.readdirSync(dir).filter((f) => f.endsWith('.js') && !f.startsWith('util') && f !== 'gpu-sanitize.js')
        .map((f) => f.slice(0, -3));
      const names = args.filter((a) => !a.startsWith('--'));
      // The GPU benchmark runs by default only where a GPU is usable.
      const chosen = names.length ? names : available.filter((n) => n !== 'gpu' || cuda.isAvailable());
      for (const name of chosen) {
        if (!available.includes(name)) throw new RangeError(`bench: unknown benchmark '${name}' (available: ${available.join(', ')})`);
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const mod = require(path.join(dir, name)) as { run: () => Promise<void> | void };
        await mod.run();
      }
      return 0;
    }
    case 'info':
      console.log(JSON.stringify({ ...backendInfo(), memory: memory() }, null, 2));
      return 0;
    default:
      console.log('usage: neural-similarity train [--seconds N] | bench [name…] | info');
      return command === 'help' ? 0 : 1;
  }
}

main(process.argv.slice(2)).then((code) => process.exit(code), (err: Error) => {
  console.error(err.message);
  process.exit(1);
});
