// Child process of test/binding.test.ts: calls every native entry point with garbage and prints, as JSON on
// stdout, what each call did. Which entry points exist and the kind of each argument come from the addon's own
// table (native.entryPoints, made from native/binding/entry_points.def); this file adds a factory of valid
// arguments per entry point and the semantic garbage (argument lists whose parts are each valid but do not fit
// together). An entry point that fails returns its Error (native/binding/binding.cc says why); as the library's
// loader does, a returned Error counts as thrown. Run as `node --expose-gc test/binding-garbage.js [binary]`; a
// crash kills only this process (the parent sees the signal and the last case, written to stderr).
'use strict';
const path = require('path');

// The binary the library loads (node-gyp-build: build/Release, else prebuilds/), or the one named.
const native = process.argv[2] ? require(process.argv[2]) : require('node-gyp-build')(path.join(__dirname, '..'));
const { dtype: DT } = native.enums;
const CPU = native.enums.device.cpu;

// Buffers on the CPU: F float32, D float64, I int32; each remembers its factory and length.
const made = new WeakMap();
const buf = (code) => {
  const factory = (n) => {
    const b = native.alloc(CPU, code, n);
    made.set(b, { factory, n });
    return b;
  };
  return factory;
};
const F = buf(DT.float32), D = buf(DT.float64), I = buf(DT.int32);
const freed = (b) => (native.free(b), b);
const ints32 = (values) => {
  const b = I(values.length);
  native.write(b, 0, Int32Array.from(values));
  return b;
};
const detached = (a) => (structuredClone(a.buffer, { transfer: [a.buffer] }), a);

// Values no integer argument accepts (every integer argument's range is within [0, 2^53 − 1]).
const BAD_INTS = [
  ['NaN', NaN], ['Infinity', Infinity], ['-Infinity', -Infinity], ['fraction', 1.5], ['negative', -1],
  ['2^53', 2 ** 53], ['1e300', 1e300], ['string', '1'], ['null', null], ['undefined', undefined], ['boolean', true],
  ['object', {}], ['array', [1]], ['bigint', 1n], ['symbol', Symbol('x')], ['function', () => 1],
];
const NOT_NUMBERS = [['string', '0.5'], ['null', null], ['undefined', undefined], ['boolean', false], ['object', {}],
  ['bigint', 1n]];
const BAD_NUMS = [['NaN', NaN], ['Infinity', Infinity], ['-Infinity', -Infinity], ...NOT_NUMBERS];

// Valid arguments (fresh buffers per call) and semantic garbage for every entry point. `sized` lists the buffer
// arguments whose length is fixed by the others (they get "one element too many/few" cases).
const POOL_DIMS = [1, 2, 4, 4, 2, 2, 2, 2, 0, 0, 0];  // 4×4 planes, 2×2 windows, stride 2 → 2×2
const CONV_DIMS = [1, 2, 5, 5, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1];  // x [1,2,5,5], w [3,2,3,3], padding 1 → y [1,3,5,5]
const withDims = (dims, k, value) => dims.map((d, i) => (i === k ? value : d));
const threads = native.runtimeInfo().threads;
const cudaUsable = native.runtimeInfo().cuda.devices > 0;

const ENTRIES = {
  runtimeInfo: { make: () => [] },
  setNumThreads: { make: () => [threads] },
  workspaceTrim: { make: () => [] },
  workspacePeak: { make: () => [0] },
  cudaSetAllowTF32: { make: () => [1] },
  alloc: {
    make: () => [CPU, DT.float32, 4],
    semantic: [['a size past 2^53 bytes', [CPU, DT.float64, 2 ** 53 - 1]], ...(cudaUsable ? [] : [['device cuda in a CPU-only process', [1, 0, 4]]])],
  },
  free: { make: () => [F(4)], semantic: [['a buffer freed twice', [freed(F(4))]]] },
  write: {
    make: () => [F(4), 1, new Float32Array(3)],
    semantic: [['elements past the end', [F(4), 2, new Float32Array(3)]], ['another dtype', [F(4), 0, new Int32Array(2)]],
      ['an offset past the end', [F(4), 5, new Float32Array(0)]]],
  },
  read: { make: () => [F(4), 1, new Float32Array(3)], semantic: [['elements past the end', [F(4), 2, new Float32Array(3)]], ['another dtype', [F(4), 0, new Float64Array(2)]]] },
  readAsync: { make: () => [F(4), 0, new Float32Array(4)], semantic: [['elements past the end', [F(4), 4, new Float32Array(1)]]] },
  copyBuffer: {
    make: () => [F(4), F(4)],
    semantic: [['another dtype', [F(4), D(4)]], ['another length', [F(4), F(5)]]],
  },
  synchronize: { make: () => [CPU], semantic: cudaUsable ? [] : [['device cuda in a CPU-only process', [1]]] },
  memoryStats: { make: () => [CPU] },
  emptyCache: { make: () => [CPU] },
  trackTensor: { make: () => [{}] },
  untrackTensor: { make: () => [{}] },
  liveTensors: { make: () => [] },
  unary: {
    make: () => [1, F(6), F(6), 0], sized: [2],
    semantic: [['mixed float dtypes', [1, D(6), F(6), 0]]],
  },
  unaryBackward: { make: () => [1, F(6), F(6), F(6), F(6), 0], sized: [2, 3, 4] },
  binary: {
    make: () => [0, [2, 3], [3, 1], [0, 1], F(6), F(3), F(6)], sized: [6],
    semantic: [
      ['int32 division', [3, [2, 3], [3, 1], [0, 1], I(6), I(3), I(6)]],
      ['int32 power', [4, [2, 3], [3, 1], [0, 1], I(6), I(3), I(6)]],
      ['strides reaching past the end of a', [0, [2, 3], [4, 1], [0, 1], F(6), F(3), F(6)]],
      ['strides reaching past the end of b', [0, [2, 3], [3, 1], [1, 1], F(6), F(3), F(6)]],
      ['a huge stride', [0, [2, 3], [2 ** 52, 1], [0, 1], F(6), F(3), F(6)]],
      ['sizes whose product overflows', [0, [2 ** 40, 2 ** 40], [0, 0], [0, 0], F(1), F(1), F(6)]],
      ['a huge shape', [0, [2 ** 26, 2 ** 26], [0, 0], [0, 0], F(1), F(1), F(6)]],
      ['a 0-D operation with empty inputs', [0, [], [], [], F(0), F(0), F(1)]],
      ['strides of another rank', [0, [2, 3], [3, 1, 1], [0, 1, 1], F(6), F(3), F(6)]],
      ['mixed dtypes', [0, [2, 3], [3, 1], [0, 1], F(6), D(3), F(6)]],
    ],
  },
  cast: { make: () => [F(6), D(6)], sized: [1] },
  fill: { make: () => [1.5, F(4)], semantic: [['NaN into int32', [NaN, I(4)]], ['2^31 into int32', [2 ** 31, I(4)]]] },
  copy: {
    make: () => [[2, 3], 0, [3, 1], 0, [1, 2], F(6), F(6)],
    semantic: [
      ['a source offset past the end', [[2, 3], 1, [3, 1], 0, [1, 2], F(6), F(6)]],
      ['a destination offset past the end', [[2, 3], 0, [3, 1], 6, [1, 2], F(6), F(6)]],
      ['source strides past the end', [[2, 3], 0, [3, 2], 0, [1, 2], F(6), F(6)]],
      ['destination strides past the end', [[2, 3], 0, [3, 1], 0, [3, 1 + 2 ** 52], F(6), F(6)]],
      ['an offset near 2^53', [[2, 3], 2 ** 53 - 1, [3, 1], 0, [1, 2], F(6), F(6)]],
      ['sizes whose product overflows', [[2 ** 30, 2 ** 30, 2 ** 30], 0, [0, 0, 0], 0, [0, 0, 0], F(6), F(6)]],
      ['mismatched element types', [[2, 3], 0, [3, 1], 0, [1, 2], F(6), I(6)]],
      ['a scalar copy from an empty buffer', [[], 0, [], 0, [], F(0), F(1)]],
    ],
  },
  indexSelect: {
    make: () => [2, F(6), ints32([2, 0]), F(4)], sized: [3],
    semantic: [['an index past the rows', [2, F(6), ints32([3, 0]), F(4)]], ['a negative index', [2, F(6), ints32([0, -1]), F(4)]],
      ['a source of partial rows', [4, F(6), ints32([0]), F(4)]], ['mixed dtypes', [2, F(6), ints32([0]), D(2)]]],
  },
  reduce: {
    make: () => [0, 2, 3, 4, 1, F(24), F(8)], sized: [5, 6],
    semantic: [
      ['max over an empty axis', [1, 2, 0, 4, 1, F(0), F(8)]],
      ['sizes whose product overflows', [0, 2 ** 30, 2 ** 30, 2 ** 30, 1, F(24), F(8)]],
      ['mismatched element types', [0, 2, 3, 4, 1, F(24), D(8)]],
    ],
  },
  argmax: {
    make: () => [2, 3, 4, F(24), I(8)], sized: [3, 4],
    semantic: [['an axis longer than int32', [1, 2 ** 31, 1, F(24), I(1)]],
      ['sizes whose product overflows', [2 ** 30, 2 ** 30, 2 ** 30, F(24), I(8)]]],
  },
  softmax: {
    make: () => [0, 2, 3, 4, F(24), F(24)], sized: [4, 5],
    semantic: [['sizes whose product overflows', [0, 2 ** 30, 2 ** 30, 2 ** 30, F(24), F(24)]]],
  },
  softmaxBackward: { make: () => [1, 2, 3, 4, F(24), F(24), F(24)], sized: [4, 5, 6] },
  oneHot: {
    make: () => [3, 1, 0, ints32([0, 2]), F(6)], sized: [4],
    semantic: [['a label past the classes', [3, 1, 0, ints32([0, 3]), F(6)]], ['a negative label', [3, 1, 0, ints32([-1, 0]), F(6)]]],
  },
  matmul: {
    // a [2, 3, 5] (strides 15, 5, 1), b [2, 5, 4] (strides 20, 4, 1), c [2, 3, 4]
    make: () => [2, 3, 4, 5, 15, 5, 1, 20, 4, 1, 0, F(30), F(40), F(24)], sized: [13],
    semantic: [
      ['a row stride reaching past the end of a', [2, 3, 4, 5, 15, 6, 1, 20, 4, 1, 0, F(30), F(40), F(24)]],
      ['a column stride reaching past the end of b', [2, 3, 4, 5, 15, 5, 1, 20, 4, 2, 0, F(30), F(40), F(24)]],
      ['a batch stride reaching past the end of a', [2, 3, 4, 5, 16, 5, 1, 20, 4, 1, 0, F(30), F(40), F(24)]],
      ['a huge stride', [2, 3, 4, 5, 15, 2 ** 52, 1, 20, 4, 1, 0, F(30), F(40), F(24)]],
      ['sizes whose product overflows', [2 ** 30, 2 ** 30, 2 ** 30, 5, 0, 0, 0, 0, 0, 0, 0, F(30), F(40), F(24)]],
    ],
  },
  conv2dForward: {
    make: () => [CONV_DIMS.slice(), F(50), F(54), F(3), F(75)], sized: [1, 2, 3, 4],
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
    make: () => [CONV_DIMS.slice(), F(75), F(54), F(50)], sized: [1, 2, 3],
    semantic: [['groups not dividing the filters', [withDims(withDims(CONV_DIMS, 1, 4), 7, 2), F(75), F(54), F(100)]]],
  },
  conv2dBackwardWeight: {
    make: () => [CONV_DIMS.slice(), F(50), F(75), F(54), F(3)], sized: [1, 2, 3, 4],
    semantic: [['a kernel larger than the padded input', [withDims(CONV_DIMS, 6, 8), F(50), F(75), F(144), F(3)]]],
  },
  // w viewed as [rows, k]; m is [k] (diagonal, spatial 0) or [k, k] (spatial 1).
  similarityFold: {
    make: () => [1, 6, 9, F(54), F(81), F(54)], sized: [3, 4, 5],
    semantic: [
      ['k beyond 4096', [1, 1, 5000, F(5000), F(1), F(5000)]],
      ['a diagonal m for the spatial form', [1, 6, 9, F(54), F(9), F(54)]],
      ['rows whose product with k overflows', [1, 2 ** 52, 9, F(54), F(81), F(54)]],
      ['mixed element types', [1, 6, 9, F(54), D(81), F(54)]],
    ],
  },
  similarityStaticBackwardWeight: {
    make: () => [CONV_DIMS.slice(), 1, F(50), F(75), F(54), F(81), F(54), F(81), F(3)], sized: [2, 3, 4, 5, 6, 7, 8],
    semantic: [
      ['a spatial m for the diagonal form', [CONV_DIMS.slice(), 0, F(50), F(75), F(54), F(81), F(54), F(81), F(3)]],
      ['groups 2', [withDims(withDims(CONV_DIMS, 4, 2), 7, 2), 1, F(50), F(50), F(18), F(81), F(18), F(81), F(2)]],
      ['a kernel larger than the padded input', [withDims(CONV_DIMS, 5, 9), 1, F(50), F(75), F(162), F(729), null, null, null]],
      ['mixed element types', [CONV_DIMS.slice(), 1, F(50), F(75), F(54), D(81), F(54), F(81), F(3)]],
    ],
  },
  // m: [n, K, ho, wo] (diagonal, spatial 0) or [n, K·K, ho, wo] (spatial 1), K = kh·kw = 9.
  similarityConv2dForward: {
    make: () => [CONV_DIMS.slice(), 0, F(50), F(54), F(225), F(3), F(75)], sized: [2, 3, 4, 5, 6],
    semantic: [
      ['a diagonal m for the spatial form', [CONV_DIMS.slice(), 1, F(50), F(54), F(225), F(3), F(75)]],
      ['groups 2', [withDims(withDims(CONV_DIMS, 4, 2), 7, 2), 0, F(50), F(18), F(225), F(2), F(50)]],
      ['a kernel larger than the padded input', [withDims(CONV_DIMS, 5, 9), 0, F(50), F(162), F(225), F(3), F(75)]],
      ['an image and kernel of 2^26 and 2^14 rows', [[1, 1, 2 ** 26, 1, 1, 2 ** 14, 1, 1, 1, 1, 0, 0, 1, 1], 1, F(50), F(54), F(225), F(3), F(75)]],
    ],
  },
  similarityConv2dBackward: {
    make: () => [CONV_DIMS.slice(), 0, F(50), F(54), F(225), F(75), F(50), F(54), F(225), F(3)], sized: [2, 3, 4, 5, 6, 7, 8, 9],
    semantic: [
      ['groups 2', [withDims(withDims(CONV_DIMS, 4, 2), 7, 2), 0, F(50), F(18), F(225), F(50), F(50), F(18), F(225), F(2)]],
      ['m sizes whose product overflows', [[1, 1, 2 ** 26, 1, 1, 2 ** 14, 1, 1, 1, 1, 0, 0, 1, 1], 1, F(50), F(54), F(225), F(75), null, null, null, null]],
    ],
  },
  maxPool2d: {
    make: () => [POOL_DIMS.slice(), F(32), F(8), I(8)], sized: [1, 2, 3],
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
    make: () => [POOL_DIMS.slice(), F(8), ints32([0, 1, 4, 5, 0, 1, 4, 5]), F(32)], sized: [1, 2, 3],
    semantic: [
      ['a negative argmax index', [POOL_DIMS.slice(), F(8), ints32([0, 0, 0, -1, 0, 0, 0, 0]), F(32)]],
      ['an argmax index equal to the plane size', [POOL_DIMS.slice(), F(8), ints32([0, 0, 0, 0, 0, 0, 0, 16]), F(32)]],
      ['an argmax index of 2^31 − 1', [POOL_DIMS.slice(), F(8), ints32([2 ** 31 - 1, 0, 0, 0, 0, 0, 0, 0]), F(32)]],
    ],
  },
  avgPool2d: {
    make: () => [POOL_DIMS.slice(), 1, F(32), F(8)], sized: [2, 3],
    semantic: [['ceilMode 2', [withDims(POOL_DIMS, 10, 2), 1, F(32), F(8)]]],
  },
  avgPool2dBackward: {
    make: () => [POOL_DIMS.slice(), 0, F(8), F(32)], sized: [2, 3],
    semantic: [['padding over half the kernel', [withDims(POOL_DIMS, 9, 3), 0, F(8), F(32)]]],
  },
  batchNormForward: {
    make: () => [2, 3, 4, 1e-5, 0.1, F(24), F(3), F(3), F(24), F(3), F(3), F(3), F(3)], sized: [5, 6, 7, 8, 9, 10, 11, 12],
    semantic: [
      ['a negative eps', [2, 3, 4, -1, 0.1, F(24), F(3), F(3), F(24), F(3), F(3), F(3), F(3)]],
      ['a momentum above 1', [2, 3, 4, 1e-5, 1.5, F(24), F(3), F(3), F(24), F(3), F(3), F(3), F(3)]],
      ['sizes whose product overflows', [2 ** 30, 2 ** 30, 2 ** 30, 1e-5, 0.1, F(24), F(3), F(3), F(24), F(3), F(3), F(3), F(3)]],
    ],
  },
  batchNormBackward: { make: () => [2, 3, 4, F(24), F(24), F(3), F(3), F(3), F(24), F(3), F(3)], sized: [3, 4, 5, 6, 7, 8, 9, 10] },
  random: {
    make: () => [0, 1, 0, 0, 1, F(8)],
    semantic: [['a Bernoulli probability above 1', [2, 1, 0, 1.5, 2, F(8)]], ['a negative Bernoulli probability', [2, 1, 0, -0.5, 2, F(8)]]],
  },
  sgdStep: {
    make: () => [0.1, 0.9, 0, 0, 0, 1, F(4), F(4), F(4)], sized: [7, 8],
    semantic: [['momentum without a buffer', [0.1, 0.9, 0, 0, 0, 1, F(4), F(4), null]]],
  },
  adamStep: { make: () => [1e-3, 0.9, 0.999, 1e-8, 0, 0, 1, F(4), F(4), F(4), F(4)], sized: [8, 9, 10] },
  rmspropStep: {
    make: () => [1e-2, 0.99, 1e-8, 0, 0.9, 1, F(4), F(4), F(4), F(4), F(4)], sized: [7, 8, 9, 10],
    semantic: [['centered without a mean buffer', [1e-2, 0.99, 1e-8, 0, 0, 1, F(4), F(4), F(4), null, null]],
      ['momentum without a buffer', [1e-2, 0.99, 1e-8, 0, 0.9, 0, F(4), F(4), F(4), null, null]]],
  },
};

// The garbage cases for argument `i` (described by the addon's table) of a valid argument list `args`.
function garbageFor(spec, sized, args, i) {
  const v = args[i];
  const cases = [];
  const put = (label, value) => cases.push([label, args.map((a, k) => (k === i ? value : a))]);
  if (spec.kind === 'int' || spec.kind === 'flag' || spec.kind === 'enum') {
    for (const [label, g] of BAD_INTS) put(label, g);
    if (spec.hi < 2 ** 53 - 1) put(`one past the top (${spec.hi + 1})`, spec.hi + 1);
    if (spec.lo > 0) put(`one below the bottom (${spec.lo - 1})`, spec.lo - 1);
  }
  if (spec.kind === 'number') for (const [label, g] of BAD_NUMS) put(label, g);
  if (spec.kind === 'anyNumber') for (const [label, g] of NOT_NUMBERS) put(label, g);
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
  if (spec.kind === 'buffer' || spec.kind === 'optional' || spec.kind === 'anyDevice') {
    if (spec.kind !== 'optional') {
      put('null', null);
      put('undefined', undefined);
    }
    for (const [label, g] of [['string', 'abc'], ['number', 3], ['array', [1, 2]], ['object', {}],
      ['a Float32Array', new Float32Array(8)], ['an ArrayBuffer', new ArrayBuffer(32)], ['a function', () => 0],
      ['an object posing as a buffer', Object.create(Object.getPrototypeOf(v ?? {}))]]) {
      put(label, g);
    }
    put('a freed buffer', freed(F(8)));
    if (spec.dtypes === 'float') put('int32 elements', I(64));
    if (spec.dtypes === 'int32') put('float32 elements', F(64));
    if (v && sized.includes(i)) {
      const { factory, n } = made.get(v);
      put('one element too many', factory(n + 1));
      if (n > 0) put('one element too few', factory(n - 1));
    }
  }
  if (spec.kind === 'host') {
    for (const [label, g] of [['null', null], ['a number', 3], ['an array', [1, 2]], ['a buffer handle', F(4)],
      ['a Uint8Array', new Uint8Array(4)], ['a BigInt64Array', new BigInt64Array(1)], ['a DataView', new DataView(new ArrayBuffer(8))],
      ['a detached Float32Array', detached(new Float32Array(3))]]) {
      put(label, g);
    }
  }
  if (spec.kind === 'object') for (const [label, g] of [['null', null], ['a number', 1], ['a string', 'x'], ['undefined', undefined]]) put(label, g);
  return cases;
}

// A copy of `args` where reading element 0 of the integer list at `i` frees the buffer at `j` (and collects
// garbage): the binding must not have taken that buffer before.
function freeingGetter(args, i, j) {
  const out = args.slice();
  const list = [...args[i]];
  const first = list[0];
  Object.defineProperty(list, 0, {
    get() {
      if (out[j]) {
        try { native.free(out[j]); } catch { /* already freed */ }
      }
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
    const value = native[entry](...args);
    if (require('util').types.isNativeError(value)) throw value;  // entry points return their errors; the library's loader throws them
    if (value instanceof Promise) value.catch(() => {});
    r.outcome = 'returned';
  } catch (e) {
    r.outcome = 'threw';
    r.cls = e && Object.getPrototypeOf(e) && Object.getPrototypeOf(e).constructor.name;
    r.message = e && e.message;
  }
  results.push(r);
}

const table = native.entryPoints;
for (const [entry, spec] of Object.entries(ENTRIES)) {
  const kinds = table[entry];
  if (!kinds) continue;  // reported through `covered` vs `exported`
  const sized = spec.sized || [];
  call(entry, 'valid', 'valid arguments', spec.make());
  const valid = spec.make();
  if (valid.length > 0) {
    call(entry, 'garbage', 'no arguments', []);
    call(entry, 'garbage', 'one argument too few', valid.slice(0, -1));
  } else {
    call(entry, 'garbage', 'an undefined argument', [undefined]);
  }
  call(entry, 'garbage', 'one argument too many', [...spec.make(), 0]);
  call(entry, 'garbage', 'twenty arguments', [...spec.make(), ...new Array(20 - valid.length).fill(1)]);
  kinds.forEach((k, i) => {
    for (const [label, args] of garbageFor(k, sized, spec.make(), i)) call(entry, 'garbage', `argument ${i}: ${label}`, args);
  });
  for (const [label, args] of spec.semantic || []) call(entry, 'garbage', label, args);
  kinds.forEach((ki, i) => {
    if (ki.kind !== 'ints') return;
    kinds.forEach((kj, j) => {
      if (kj.kind === 'buffer') call(entry, 'garbage', `argument ${i}'s getter frees argument ${j}`, freeingGetter(spec.make(), i, j));
    });
  });
}

const exported = Object.keys(native).filter((k) => typeof native[k] === 'function').sort();
process.stdout.write(JSON.stringify({ exported, table: Object.keys(table).sort(), covered: Object.keys(ENTRIES).filter((e) => table[e]).sort(), results }));
