// Child process of test/binding.test.ts: calls every native entry point with garbage and prints, as
// JSON on stdout, what each call did. Run as `node --expose-gc test/binding-garbage.js [binary]`; a
// crash kills only this process (the parent sees the signal and the last case, written to stderr).
'use strict';
const path = require('path');

const binary = process.argv[2] || path.join(__dirname, '..', 'build', 'Release', 'neural_similarity.node');
const native = require(binary);

const F = (n) => new Float32Array(n);
const D = (n) => new Float64Array(n);
const I = (n) => new Int32Array(n);
const TYPED = { F: Float32Array, D: Float64Array, I: Int32Array };

// Argument kinds. `int`: an integer with a range; `num`: a finite number; `ints`: an array of integers
// (count: exact length or -1); `arr`: a typed array with the allowed element types (letters of TYPED),
// its length rule ('exact', 'min': at least, 'free') and whether null is accepted.
const int = { kind: 'int' };
const num = { kind: 'num' };
const ints = (count) => ({ kind: 'ints', count });
const arr = (types, len = 'exact', optional = false) => ({ kind: 'arr', types, len, optional });

function detached(a) {
  structuredClone(a.buffer, { transfer: [a.buffer] });
  return a;
}

// Values no integer argument accepts (every integer argument's range is within [0, 2^53 − 1]).
const BAD_INTS = [
  ['NaN', NaN], ['Infinity', Infinity], ['-Infinity', -Infinity], ['fraction', 1.5], ['negative', -1],
  ['2^53', 2 ** 53], ['1e300', 1e300], ['string', '1'], ['null', null], ['undefined', undefined], ['boolean', true],
  ['object', {}], ['array', [1]], ['bigint', 1n], ['symbol', Symbol('x')], ['function', () => 1],
];
const BAD_NUMS = [
  ['NaN', NaN], ['Infinity', Infinity], ['-Infinity', -Infinity], ['string', '0.5'], ['null', null],
  ['undefined', undefined], ['boolean', false], ['object', {}], ['bigint', 1n],
];

// The garbage cases for argument `i` of a valid argument list `args`.
function garbageFor(spec, args, i) {
  const v = args[i];
  const cases = [];
  const put = (label, value) => cases.push([label, args.map((a, k) => (k === i ? value : a))]);
  if (spec.kind === 'int') for (const [label, g] of BAD_INTS) put(label, g);
  if (spec.kind === 'num') for (const [label, g] of BAD_NUMS) put(label, g);
  if (spec.kind === 'ints') {
    for (const [label, g] of [['string', 'abc'], ['number', 5], ['null', null], ['undefined', undefined], ['object', {}],
      ['Float64Array', Float64Array.from(v)], ['Uint32Array', Uint32Array.from(v)], ['Proxy of the array', new Proxy([...v], {})]]) {
      put(label, g);
    }
    if (v.length > 0) {
      for (const [label, g] of BAD_INTS) put(`element ${label}`, [g, ...v.slice(1)]);
      put('Int32Array with a negative element', Int32Array.from([-1, ...v.slice(1)]));
    }
    if (spec.count >= 0) {
      put('one integer too many', [...v, 1]);
      if (v.length > 0) put('one integer too few', v.slice(1));
    } else {
      put('17 integers', new Array(17).fill(1));
    }
  }
  if (spec.kind === 'arr') {
    const n = v.length;
    const base = v instanceof Float32Array ? Float32Array : v instanceof Float64Array ? Float64Array : Int32Array;
    if (!spec.optional) {
      put('null', null);
      put('undefined', undefined);
    }
    for (const [label, g] of [['string', 'abc'], ['number', 3], ['array', Array.from(v)], ['object', {}],
      ['ArrayBuffer', new ArrayBuffer(n * 8)], ['DataView', new DataView(new ArrayBuffer(n * 8))],
      ['Uint8Array', new Uint8Array(n)], ['Int16Array', new Int16Array(n)], ['Uint32Array', new Uint32Array(n)],
      ['Uint8ClampedArray', new Uint8ClampedArray(n)], ['BigInt64Array', new BigInt64Array(n)]]) {
      put(label, g);
    }
    put('detached', detached(new base(n)));
    put('detached subarray', detached(new base(n + 4).subarray(2, 2 + n)));
    for (const [letter, ctor] of Object.entries(TYPED)) {
      if (!spec.types.includes(letter)) put(`${ctor.name} (element type not accepted here)`, new ctor(n));
    }
    if (spec.len === 'exact') put('one element too many', new base(n + 1));
    if (spec.len !== 'free' && n > 0) {
      put('one element too few', new base(n - 1));
      put('empty', new base(0));
    }
  }
  return cases;
}

// Every entry point of native/binding.cc Init: a factory of valid arguments (fresh arrays per call),
// the kind of each argument, and semantic garbage (whole argument lists, each invalid).
const POOL_DIMS = [1, 2, 4, 4, 2, 2, 2, 2, 0, 0, 0];  // 4×4 planes, 2×2 windows, stride 2 → 2×2
const CONV_DIMS = [1, 2, 5, 5, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1];  // x [1,2,5,5], w [3,2,3,3], padding 1 → y [1,3,5,5]
const withDims = (dims, k, value) => dims.map((d, i) => (i === k ? value : d));
const threads = native.runtimeInfo().threads;

// Garbage for an argument that must be a live ArrayBuffer.
const NOT_AN_ARRAY_BUFFER = [['a Float32Array', [F(4)]], ['a number', [64]], ['null', [null]],
  ['a DataView', [new DataView(new ArrayBuffer(8))]], ['a detached ArrayBuffer', [detached(F(4)).buffer]]];

const ENTRIES = {
  runtimeInfo: { make: () => [], kinds: [] },
  setNumThreads: { make: () => [threads], kinds: [int], semantic: [['0 threads', [0]], ['1025 threads', [1025]]] },
  workspaceTrim: { make: () => [], kinds: [] },
  workspacePeak: { make: () => [0], kinds: [int], semantic: [['reset 2', [2]]] },
  cacheLineOffset: { make: () => [new ArrayBuffer(100)], kinds: [], semantic: NOT_AN_ARRAY_BUFFER },
  adviseHugePages: { make: () => [new ArrayBuffer(100)], kinds: [], semantic: NOT_AN_ARRAY_BUFFER },
  unary: {
    make: () => [1, F(6), F(6), 0], kinds: [int, arr('F'), arr('F'), num],
    semantic: [['unknown op', [9, F(6), F(6), 0]], ['int32 elements', [1, I(6), I(6), 0]], ['mixed float dtypes', [1, D(6), F(6), 0]]],
  },
  unaryBackward: {
    make: () => [1, F(6), F(6), F(6), F(6), 0], kinds: [int, arr('F'), arr('F'), arr('F'), arr('F'), num],
    semantic: [['unknown op', [9, F(6), F(6), F(6), F(6), 0]], ['int32 elements', [0, I(6), I(6), I(6), I(6), 0]]],
  },
  binary: {
    make: () => [0, [2, 3], [3, 1], [0, 1], F(6), F(3), F(6)],
    kinds: [int, ints(-1), ints(2), ints(2), arr('F', 'min'), arr('F', 'min'), arr('F')],
    semantic: [
      ['unknown op', [13, [2, 3], [3, 1], [0, 1], F(6), F(3), F(6)]],
      ['int32 division', [3, [2, 3], [3, 1], [0, 1], I(6), I(3), I(6)]],
      ['int32 power', [4, [2, 3], [3, 1], [0, 1], I(6), I(3), I(6)]],
      ['strides reaching past the end of a', [0, [2, 3], [4, 1], [0, 1], F(6), F(3), F(6)]],
      ['strides reaching past the end of b', [0, [2, 3], [3, 1], [1, 1], F(6), F(3), F(6)]],
      ['a huge stride', [0, [2, 3], [2 ** 52, 1], [0, 1], F(6), F(3), F(6)]],
      ['sizes whose product overflows', [0, [2 ** 40, 2 ** 40], [0, 0], [0, 0], F(1), F(1), F(6)]],
      ['a huge shape', [0, [2 ** 26, 2 ** 26], [0, 0], [0, 0], F(1), F(1), F(6)]],
      ['a 0-D operation with empty inputs', [0, [], [], [], F(0), F(0), F(1)]],
      ['strides of another rank', [0, [2, 3], [3, 1, 1], [0, 1, 1], F(6), F(3), F(6)]],
    ],
  },
  copy: {
    make: () => [[2, 3], F(6), 0, [3, 1], F(6), 0, [1, 2]],
    kinds: [ints(-1), arr('F', 'min'), int, ints(2), arr('F', 'min'), int, ints(2)],
    semantic: [
      ['a source offset past the end', [[2, 3], F(6), 1, [3, 1], F(6), 0, [1, 2]]],
      ['a destination offset past the end', [[2, 3], F(6), 0, [3, 1], F(6), 6, [1, 2]]],
      ['source strides past the end', [[2, 3], F(6), 0, [3, 2], F(6), 0, [1, 2]]],
      ['destination strides past the end', [[2, 3], F(6), 0, [3, 1], F(6), 0, [3, 1 + 2 ** 52]]],
      ['an offset near 2^53', [[2, 3], F(6), 2 ** 53 - 1, [3, 1], F(6), 0, [1, 2]]],
      ['sizes whose product overflows', [[2 ** 30, 2 ** 30, 2 ** 30], F(6), 0, [0, 0, 0], F(6), 0, [0, 0, 0]]],
      ['mismatched element types', [[2, 3], F(6), 0, [3, 1], I(6), 0, [1, 2]]],
      ['a scalar copy from an empty array', [[], F(0), 0, [], F(1), 0, []]],
    ],
  },
  cast: {
    make: () => [F(6), D(6)], kinds: [arr('FDI'), arr('FDI')],
  },
  reduce: {
    make: () => [0, 2, 3, 4, F(24), F(8), 1], kinds: [int, int, int, int, arr('F'), arr('F'), num],
    semantic: [
      ['unknown op', [3, 2, 3, 4, F(24), F(8), 1]],
      ['max over an empty axis', [1, 2, 0, 4, F(0), F(8), 1]],
      ['sizes whose product overflows', [0, 2 ** 30, 2 ** 30, 2 ** 30, F(24), F(8), 1]],
      ['mismatched element types', [0, 2, 3, 4, F(24), D(8), 1]],
    ],
  },
  argmax: {
    make: () => [2, 3, 4, F(24), I(8)], kinds: [int, int, int, arr('FDI'), arr('I')],
    semantic: [
      ['an empty axis', [2, 0, 4, F(0), I(8)]],
      ['an axis longer than int32', [1, 2 ** 31, 1, F(24), I(1)]],
      ['sizes whose product overflows', [2 ** 30, 2 ** 30, 2 ** 30, F(24), I(8)]],
    ],
  },
  softmax: {
    make: () => [0, 2, 3, 4, F(24), F(24)], kinds: [int, int, int, int, arr('F'), arr('F')],
    semantic: [['isLog 2', [2, 2, 3, 4, F(24), F(24)]], ['an empty axis', [0, 2, 0, 4, F(0), F(0)]],
      ['int32 elements', [0, 2, 3, 4, I(24), I(24)]], ['sizes whose product overflows', [0, 2 ** 30, 2 ** 30, 2 ** 30, F(24), F(24)]]],
  },
  softmaxBackward: {
    make: () => [1, 2, 3, 4, F(24), F(24), F(24)], kinds: [int, int, int, int, arr('F'), arr('F'), arr('F')],
    semantic: [['isLog 2', [2, 2, 3, 4, F(24), F(24), F(24)]], ['an empty axis', [0, 2, 0, 4, F(0), F(0), F(0)]]],
  },
  matmul: {
    // a [2, 3, 5] (strides 15, 5, 1), b [2, 5, 4] (strides 20, 4, 1), c [2, 3, 4]
    make: () => [2, 3, 4, 5, F(30), 15, 5, 1, F(40), 20, 4, 1, F(24), 0],
    kinds: [int, int, int, int, arr('F', 'min'), int, int, int, arr('F', 'min'), int, int, int, arr('F'), int],
    semantic: [
      ['a row stride reaching past the end of a', [2, 3, 4, 5, F(30), 15, 6, 1, F(40), 20, 4, 1, F(24), 0]],
      ['a column stride reaching past the end of b', [2, 3, 4, 5, F(30), 15, 5, 1, F(40), 20, 4, 2, F(24), 0]],
      ['a batch stride reaching past the end of a', [2, 3, 4, 5, F(30), 16, 5, 1, F(40), 20, 4, 1, F(24), 0]],
      ['a huge stride', [2, 3, 4, 5, F(30), 15, 2 ** 52, 1, F(40), 20, 4, 1, F(24), 0]],
      ['sizes whose product overflows', [2 ** 30, 2 ** 30, 2 ** 30, 5, F(30), 0, 0, 0, F(40), 0, 0, 0, F(24), 0]],
      ['accumulate 2', [2, 3, 4, 5, F(30), 15, 5, 1, F(40), 20, 4, 1, F(24), 2]],
      ['int32 elements', [2, 3, 4, 5, I(30), 15, 5, 1, I(40), 20, 4, 1, I(24), 0]],
    ],
  },
  conv2dForward: {
    make: () => [CONV_DIMS.slice(), F(50), F(54), F(3), F(75)], kinds: [ints(14), arr('F'), arr('F'), arr('F', 'exact', true), arr('F')],
    semantic: [
      ['groups not dividing the channels', [withDims(CONV_DIMS, 7, 2), F(50), F(27), F(3), F(75)]],
      ['a kernel larger than the padded input', [withDims(CONV_DIMS, 5, 9), F(50), F(162), F(3), F(75)]],
      ['dilation 0', [withDims(CONV_DIMS, 12, 0), F(50), F(54), F(3), F(75)]],
      ['stride 0', [withDims(CONV_DIMS, 8, 0), F(50), F(54), F(3), F(75)]],
      ['0 filters', [withDims(CONV_DIMS, 4, 0), F(50), F(0), F(0), F(0)]],
      ['an empty image', [withDims(CONV_DIMS, 2, 0), F(0), F(54), F(3), F(45)]],
      ['input sizes whose product overflows', [[2 ** 30, 2 ** 30, 2 ** 30, 5, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1], F(50), F(54), F(3), F(75)]],
      ['output sizes that overflow through the padding', [withDims(withDims(CONV_DIMS, 10, 2 ** 51), 11, 2 ** 51), F(50), F(54), F(3), F(75)]],
      ['a dilation that overflows the kernel extent', [withDims(CONV_DIMS, 12, 2 ** 52), F(50), F(54), F(3), F(75)]],
    ],
  },
  conv2dBackwardInput: {
    make: () => [CONV_DIMS.slice(), F(75), F(54), F(50)], kinds: [ints(14), arr('F'), arr('F'), arr('F')],
    semantic: [['groups not dividing the filters', [withDims(withDims(CONV_DIMS, 1, 4), 7, 2), F(75), F(54), F(100)]]],
  },
  conv2dBackwardWeight: {
    make: () => [CONV_DIMS.slice(), F(50), F(75), F(54), F(3)], kinds: [ints(14), arr('F'), arr('F'), arr('F'), arr('F', 'exact', true)],
    semantic: [['a kernel larger than the padded input', [withDims(CONV_DIMS, 6, 8), F(50), F(75), F(144), F(3)]]],
  },
  // w viewed as [rows, k]; m is [k] (diagonal, spatial 0) or [k, k] (spatial 1).
  similarityFold: {
    make: () => [1, 6, 9, F(54), F(81), F(54)], kinds: [int, int, int, arr('FD'), arr('FD'), arr('FD')],
    semantic: [
      ['spatial 2', [2, 6, 9, F(54), F(81), F(54)]],
      ['k 0', [1, 6, 0, F(0), F(0), F(0)]],
      ['k beyond 4096', [1, 1, 5000, F(5000), F(1), F(5000)]],
      ['a diagonal m for the spatial form', [1, 6, 9, F(54), F(9), F(54)]],
      ['rows whose product with k overflows', [1, 2 ** 52, 9, F(54), F(81), F(54)]],
      ['mixed element types', [1, 6, 9, F(54), D(81), F(54)]],
    ],
  },
  // The weight gradients of conv2d(x, fold(w, m)): m is [K] (diagonal, spatial 0) or [K, K] (spatial 1).
  similarityStaticBackwardWeight: {
    make: () => [CONV_DIMS.slice(), 1, F(50), F(75), F(54), F(81), F(54), F(81), F(3)],
    kinds: [ints(14), int, arr('FD'), arr('FD'), arr('FD'), arr('FD'), arr('FD', 'exact', true), arr('FD', 'exact', true),
      arr('FD', 'exact', true)],
    semantic: [
      ['spatial 2', [CONV_DIMS.slice(), 2, F(50), F(75), F(54), F(81), F(54), F(81), F(3)]],
      ['a spatial m for the diagonal form', [CONV_DIMS.slice(), 0, F(50), F(75), F(54), F(81), F(54), F(81), F(3)]],
      ['groups 2', [withDims(withDims(CONV_DIMS, 4, 2), 7, 2), 1, F(50), F(50), F(18), F(81), F(18), F(81), F(2)]],
      ['a kernel larger than the padded input', [withDims(CONV_DIMS, 5, 9), 1, F(50), F(75), F(162), F(729), null, null, null]],
      ['mixed element types', [CONV_DIMS.slice(), 1, F(50), F(75), F(54), D(81), F(54), F(81), F(3)]],
    ],
  },
  // m: [n, K, ho, wo] (diagonal, spatial 0) or [n, K·K, ho, wo] (spatial 1), K = kh·kw = 9.
  similarityConv2dForward: {
    make: () => [CONV_DIMS.slice(), 0, F(50), F(54), F(225), F(3), F(75)],
    kinds: [ints(14), int, arr('F'), arr('F'), arr('F'), arr('F', 'exact', true), arr('F')],
    semantic: [
      ['spatial 2', [CONV_DIMS.slice(), 2, F(50), F(54), F(225), F(3), F(75)]],
      ['a diagonal m for the spatial form', [CONV_DIMS.slice(), 1, F(50), F(54), F(225), F(3), F(75)]],
      ['groups 2', [withDims(withDims(CONV_DIMS, 4, 2), 7, 2), 0, F(50), F(18), F(225), F(2), F(50)]],
      ['a kernel larger than the padded input', [withDims(CONV_DIMS, 5, 9), 0, F(50), F(162), F(225), F(3), F(75)]],
      ['an image and kernel of 2^26 and 2^14 rows', [[1, 1, 2 ** 26, 1, 1, 2 ** 14, 1, 1, 1, 1, 0, 0, 1, 1], 1, F(50), F(54), F(225), F(3), F(75)]],
    ],
  },
  similarityConv2dBackward: {
    make: () => [CONV_DIMS.slice(), 0, F(50), F(54), F(225), F(75), F(50), F(54), F(225), F(3)],
    kinds: [ints(14), int, arr('F'), arr('F'), arr('F'), arr('F'), arr('F', 'exact', true), arr('F', 'exact', true),
      arr('F', 'exact', true), arr('F', 'exact', true)],
    semantic: [
      ['spatial 2', [CONV_DIMS.slice(), 2, F(50), F(54), F(225), F(75), F(50), F(54), F(225), F(3)]],
      ['groups 2', [withDims(withDims(CONV_DIMS, 4, 2), 7, 2), 0, F(50), F(18), F(225), F(50), F(50), F(18), F(225), F(2)]],
      ['m sizes whose product overflows', [[1, 1, 2 ** 26, 1, 1, 2 ** 14, 1, 1, 1, 1, 0, 0, 1, 1], 1, F(50), F(54), F(225), F(75), null, null, null, null]],
    ],
  },
  maxPool2d: {
    make: () => [POOL_DIMS.slice(), F(32), F(8), I(8)], kinds: [ints(11), arr('F'), arr('F'), arr('I')],
    semantic: [
      ['ceilMode 2', [withDims(POOL_DIMS, 10, 2), F(32), F(8), I(8)]],
      ['padding over half the kernel', [withDims(POOL_DIMS, 8, 2), F(32), F(8), I(8)]],
      ['a kernel larger than the input', [withDims(POOL_DIMS, 4, 9), F(32), F(8), I(8)]],
      ['stride 0', [withDims(POOL_DIMS, 6, 0), F(32), F(8), I(8)]],
      ['a plane of more than 2^31 elements', [[1, 1, 2 ** 16, 2 ** 16, 2, 2, 2, 2, 0, 0, 0], F(32), F(8), I(8)]],
      ['sizes whose product overflows', [[2 ** 30, 2 ** 30, 4, 4, 2, 2, 2, 2, 0, 0, 0], F(32), F(8), I(8)]],
    ],
  },
  maxPool2dBackward: {
    make: () => [POOL_DIMS.slice(), F(8), I(8), F(32)], kinds: [ints(11), arr('F'), arr('I'), arr('F')],
    semantic: [
      ['a negative argmax index', [POOL_DIMS.slice(), F(8), Int32Array.from([0, 0, 0, -1, 0, 0, 0, 0]), F(32)]],
      ['an argmax index equal to the plane size', [POOL_DIMS.slice(), F(8), Int32Array.from([0, 0, 0, 0, 0, 0, 0, 16]), F(32)]],
      ['an argmax index of 2^31 − 1', [POOL_DIMS.slice(), F(8), Int32Array.from([2 ** 31 - 1, 0, 0, 0, 0, 0, 0, 0]), F(32)]],
    ],
  },
  avgPool2d: {
    make: () => [POOL_DIMS.slice(), 1, F(32), F(8)], kinds: [ints(11), int, arr('F'), arr('F')],
    semantic: [['countIncludePad 2', [POOL_DIMS.slice(), 2, F(32), F(8)]], ['ceilMode 2', [withDims(POOL_DIMS, 10, 2), 1, F(32), F(8)]]],
  },
  avgPool2dBackward: {
    make: () => [POOL_DIMS.slice(), 0, F(8), F(32)], kinds: [ints(11), int, arr('F'), arr('F')],
    semantic: [['countIncludePad 2', [POOL_DIMS.slice(), 2, F(8), F(32)]], ['padding over half the kernel', [withDims(POOL_DIMS, 9, 3), 0, F(8), F(32)]]],
  },
  batchNormForward: {
    make: () => [2, 3, 4, F(24), F(3), F(3), 1e-5, F(24), F(3), F(3), F(3)],
    kinds: [int, int, int, arr('F'), arr('F', 'exact', true), arr('F', 'exact', true), num, arr('F'), arr('F'), arr('F'), arr('F')],
    semantic: [
      ['a negative eps', [2, 3, 4, F(24), F(3), F(3), -1, F(24), F(3), F(3), F(3)]],
      ['no samples', [0, 3, 4, F(0), F(3), F(3), 1e-5, F(0), F(3), F(3), F(3)]],
      ['sizes whose product overflows', [2 ** 30, 2 ** 30, 2 ** 30, F(24), F(3), F(3), 1e-5, F(24), F(3), F(3), F(3)]],
    ],
  },
  batchNormBackward: {
    make: () => [2, 3, 4, F(24), F(24), F(3), F(3), F(3), F(24), F(3), F(3)],
    kinds: [int, int, int, arr('F'), arr('F'), arr('F', 'exact', true), arr('F'), arr('F'), arr('F'), arr('F', 'exact', true), arr('F', 'exact', true)],
    semantic: [['0 channels', [2, 0, 4, F(0), F(0), F(0), F(0), F(0), F(0), F(0), F(0)]]],
  },
  random: {
    make: () => [0, 1, 0, 0, 1, F(8)], kinds: [int, int, int, num, num, arr('FD', 'free')],
    semantic: [['unknown kind', [3, 1, 0, 0, 1, F(8)]], ['a Bernoulli probability above 1', [2, 1, 0, 1.5, 2, F(8)]],
      ['a negative Bernoulli probability', [2, 1, 0, -0.5, 2, F(8)]]],
  },
  sgdStep: {
    make: () => [F(4), F(4), F(4), 0.1, 0.9, 0, 0, 0, 1], kinds: [arr('F'), arr('F'), arr('F'), num, num, num, num, int, int],
    semantic: [['momentum without a buffer', [F(4), F(4), null, 0.1, 0.9, 0, 0, 0, 1]], ['nesterov 2', [F(4), F(4), F(4), 0.1, 0.9, 0, 0, 2, 1]]],
  },
  adamStep: {
    make: () => [F(4), F(4), F(4), F(4), 1e-3, 0.9, 0.999, 1e-8, 0, 0, 1],
    kinds: [arr('F'), arr('F'), arr('F'), arr('F'), num, num, num, num, num, int, int],
    semantic: [['step 0', [F(4), F(4), F(4), F(4), 1e-3, 0.9, 0.999, 1e-8, 0, 0, 0]], ['decoupled 2', [F(4), F(4), F(4), F(4), 1e-3, 0.9, 0.999, 1e-8, 0, 2, 1]]],
  },
};

// A copy of `args` where reading element 0 of the integer list at `i` detaches the typed array at `j`
// (and collects garbage): the binding must not have taken that array's pointer before.
function detachingGetter(args, i, j) {
  const out = args.slice();
  const list = [...args[i]];
  const first = list[0];
  Object.defineProperty(list, 0, {
    get() {
      if (out[j] && out[j].buffer.byteLength > 0) structuredClone(out[j].buffer, { transfer: [out[j].buffer] });
      if (global.gc) global.gc();
      return first;
    },
  });
  out[i] = list;
  return out;
}

const results = [];
function call(entry, kind, label, args) {
  process.stderr.write(`${entry} ${kind}: ${label}\n`);
  const r = { entry, kind, label };
  try {
    native[entry](...args);
    r.outcome = 'returned';
  } catch (e) {
    r.outcome = 'threw';
    r.cls = e && Object.getPrototypeOf(e) && Object.getPrototypeOf(e).constructor.name;
    r.message = e && e.message;
  }
  results.push(r);
}

for (const [entry, spec] of Object.entries(ENTRIES)) {
  call(entry, 'valid', 'valid arguments', spec.make());
  const valid = spec.make();
  if (valid.length > 0) {
    call(entry, 'garbage', 'no arguments', []);
    call(entry, 'garbage', 'one argument too few', valid.slice(0, -1));
  } else {
    call(entry, 'garbage', 'an undefined argument', [undefined]);
  }
  call(entry, 'garbage', 'one argument too many', [...valid, 0]);
  call(entry, 'garbage', 'twenty arguments', [...valid, ...new Array(20 - valid.length).fill(1)]);
  spec.kinds.forEach((k, i) => {
    for (const [label, args] of garbageFor(k, spec.make(), i)) call(entry, 'garbage', `argument ${i}: ${label}`, args);
  });
  for (const [label, args] of spec.semantic || []) call(entry, 'garbage', label, args);
  spec.kinds.forEach((ki, i) => {
    if (ki.kind !== 'ints') return;
    spec.kinds.forEach((kj, j) => {
      if (kj.kind === 'arr') call(entry, 'garbage', `argument ${i}'s getter detaches argument ${j}`, detachingGetter(spec.make(), i, j));
    });
  });
}

process.stdout.write(JSON.stringify({ exported: Object.keys(native).sort(), covered: Object.keys(ENTRIES).sort(), results }));
