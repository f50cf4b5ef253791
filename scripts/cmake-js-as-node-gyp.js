#!/usr/bin/env node
// prebuildify runs `<node-gyp> rebuild --target=… --devdir=… --release`. This stand-in builds with cmake-js
// from CMakeLists.txt instead (CPU + CUDA kernels, static CUDA runtime) into build/Release, where
// prebuildify collects the .node file. Node-API builds need no per-version headers, so the target and
// devdir arguments are ignored.
'use strict';
const { spawnSync } = require('child_process');
const path = require('path');

const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const debug = process.argv.includes('--debug');
const result = spawnSync(process.execPath, [cmakeJs, 'rebuild', '--out', 'build', ...(debug ? ['--debug'] : [])], {
  cwd: path.resolve(__dirname, '..'),
  stdio: 'inherit',
});
process.exit(result.status === null ? 1 : result.status);
