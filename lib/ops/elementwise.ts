/**
 * Elementwise ops: broadcasting binary arithmetic and comparisons, unary math, casts.
 */
import { BinaryOp, UnaryOp } from '../backend/native.generated';
import { backendOf } from '../backend/context';
import { DType, Tensor, formatShape, stridesOf } from '../tensor';
import { record } from '../autograd/node';
import { asTensor, checkFloat, checkNumber, checkTensor, TensorLike } from './util';
import { sumTo } from './reduce';

const RANK: Record<DType, number> = { int32: 0, float32: 1, float64: 2 };

/** The broadcast shape of two shapes (NumPy rules), or a RangeError naming the op. */
export function broadcastShapes(op: string, a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1, db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new RangeError(`${op}: expected shapes that broadcast but got ${formatShape(a)} and ${formatShape(b)} (dimension ${i}: ${da} vs ${db})`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Strides of `shape` read in the index space of `outShape` (0 along broadcast dimensions). */
function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const own = stridesOf(shape);
  return outShape.map((_, i) => {
    const j = i - (outShape.length - shape.length);
    return j < 0 || shape[j] === 1 ? 0 : own[j];
  });
}

/** Merges adjacent dimensions that walk memory contiguously for every operand. */
function coalesce(shape: number[], strides: number[][]): [number[], number[][]] {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 1) continue;
    const last = outShape.length - 1;
    if (last >= 0 && strides.every((s, k) => outStrides[k][last] === s[i] * shape[i])) {
      outShape[last] *= shape[i];
      strides.forEach((s, k) => (outStrides[k][last] = s[i]));
    } else {
      outShape.push(shape[i]);
      strides.forEach((s, k) => outStrides[k].push(s[i]));
    }
  }
  return [outShape, outStrides];
}

/** Runs a binary kernel with broadcasting for `name`; a and b must share a dtype. @internal */
export function binaryKernel(name: string, op: number, a: Tensor, b: Tensor, outShape: readonly number[], outDtype: DType): Tensor {
  const k = backendOf(name, a, b);
  const out = k.empty(outShape, outDtype);
  const [shape, [sa, sb]] = coalesce([...outShape], [broadcastStrides(a.shape, outShape), broadcastStrides(b.shape, outShape)]);
  k.run('binary', op, shape, sa, sb, a.buffer, b.buffer, out.buffer);
  return out;
}

/** Converts `t` to `dtype` (differentiable between float dtypes). */
export function cast(t: Tensor, dtype: DType): Tensor {
  checkTensor('cast', 't', t);
  if (typeof dtype !== 'string' || !Object.hasOwn(RANK, dtype)) throw new TypeError(`cast: expected dtype float32, float64 or int32 but got ${String(dtype)}`);
  if (t.dtype === dtype) return t;
  const k = backendOf('cast', t);
  const out = k.empty(t.shape, dtype);
  k.run('cast', t.buffer, out.buffer);
  if (dtype === 'int32') return out;
  return record('cast', [t], out, (g) => [cast(g, t.dtype)]);
}

/** Operands as tensors of one dtype (int32 < float32 < float64; a number takes the tensor's dtype). */
function operands(op: string, a: TensorLike, b: TensorLike): [Tensor, Tensor, DType] {
  if (typeof a === 'number' && typeof b === 'number') {
    throw new TypeError(`${op}: expected at least one Tensor operand but got two numbers`);
  }
  const ta = typeof a === 'number' ? null : checkTensor(op, 'a', a);
  const tb = typeof b === 'number' ? null : checkTensor(op, 'b', b);
  const num = typeof a === 'number' ? a : typeof b === 'number' ? b : null;
  let dtype: DType;
  if (ta && tb) dtype = RANK[ta.dtype] >= RANK[tb.dtype] ? ta.dtype : tb.dtype;
  else dtype = (ta ?? tb)!.dtype;
  if (dtype === 'int32' && num !== null && !Number.isInteger(num)) dtype = 'float32';
  const device = (ta ?? tb)!.device;
  if (ta && tb) backendOf(op, ta, tb);
  const x = ta ? cast(ta, dtype) : asTensor(op, 'a', a, dtype, device);
  const y = tb ? cast(tb, dtype) : asTensor(op, 'b', b, dtype, device);
  return [x, y, dtype];
}

type BinaryGrad = (g: Tensor, a: Tensor, b: Tensor, out: Tensor) => [Tensor | null, Tensor | null];

function binary(name: string, code: number, a: TensorLike, b: TensorLike, grad: BinaryGrad | null): Tensor {
  const [x, y, dtype] = operands(name, a, b);
  if (dtype === 'int32' && (code === BinaryOp.div || code === BinaryOp.pow)) {
    throw new TypeError(`${name}: expected float32 or float64 operands but got int32 (cast them first)`);
  }
  const outShape = broadcastShapes(name, x.shape, y.shape);
  const out = binaryKernel(name, code, x, y, outShape, dtype);
  if (!grad) return out;
  return record(name, [x, y], out, (g) => {
    const [ga, gb] = grad(g, x, y, out);
    return [ga && reduceTo(ga, x.shape, g), gb && reduceTo(gb, y.shape, g)];
  });
}

/**
 * Sums a broadcast gradient back to an operand's shape, disposing the intermediate (but never the
 * upstream gradient, which add and sub pass through to both operands).
 */
function reduceTo(g: Tensor, shape: readonly number[], upstream: Tensor): Tensor {
  if (g.shape.join() === shape.join()) return g;
  const r = sumTo(g, shape);
  if (g !== upstream) g.dispose();
  return r;
}

/** a + b, broadcasting. */
export function add(a: TensorLike, b: TensorLike): Tensor {
  return binary('add', BinaryOp.add, a, b, (g) => [g, g]);
}

/** a − b, broadcasting. */
export function sub(a: TensorLike, b: TensorLike): Tensor {
  return binary('sub', BinaryOp.sub, a, b, (g) => [g, neg(g)]);
}

/** a · b (elementwise), broadcasting. */
export function mul(a: TensorLike, b: TensorLike): Tensor {
  return binary('mul', BinaryOp.mul, a, b, (g, x, y) => [mul(g, y), mul(g, x)]);
}

/** a / b, broadcasting (float dtypes). */
export function div(a: TensorLike, b: TensorLike): Tensor {
  return binary('div', BinaryOp.div, a, b, (g, _x, y, out) => {
    const ga = div(g, y);
    const t = mul(ga, out);
    const gb = neg(t);
    t.dispose();
    return [ga, gb];
  });
}

/** a ** b with a tensor exponent, broadcasting (float dtypes); see `pow` for a number exponent. */
function powTensor(a: TensorLike, b: TensorLike): Tensor {
  return binary('pow', BinaryOp.pow, a, b, (g, x, y, out) => {
    const ym1 = sub(y, 1), xp = binaryKernel('pow', BinaryOp.pow, x, ym1, broadcastShapes('pow', x.shape, ym1.shape), x.dtype);
    const t = mul(g, y), ga = mul(t, xp);
    const lg = log(x), t2 = mul(g, out), gb = mul(t2, lg);
    for (const tmp of [ym1, xp, t, lg, t2]) tmp.dispose();
    return [ga, gb];
  });
}

/**
 * a ** b. With a number exponent the op is unary (x^p, gradient p·x^(p−1)); with a tensor exponent it
 * broadcasts and differentiates in both operands (∂/∂b = out·log a).
 */
export function pow(a: TensorLike, b: TensorLike): Tensor {
  if (a instanceof Tensor && typeof b === 'number') {
    checkNumber('pow', 'exponent', b);
    return unary('pow', UnaryOp.pow, a, b);
  }
  return powTensor(a, b);
}

/** Elementwise maximum; on ties the gradient is split evenly. */
export function maximum(a: TensorLike, b: TensorLike): Tensor {
  return binary('maximum', BinaryOp.maximum, a, b, (g, x, y) => tieSplit(g, x, y, BinaryOp.gt));
}

/** Elementwise minimum; on ties the gradient is split evenly. */
export function minimum(a: TensorLike, b: TensorLike): Tensor {
  return binary('minimum', BinaryOp.minimum, a, b, (g, x, y) => tieSplit(g, x, y, BinaryOp.lt));
}

function tieSplit(g: Tensor, x: Tensor, y: Tensor, wins: number): [Tensor, Tensor] {
  const shape = g.shape;
  const win = binaryKernel('maximum', wins, x, y, shape, x.dtype), tie = binaryKernel('maximum', BinaryOp.eq, x, y, shape, x.dtype);
  const half = mul(tie, 0.5), wa = add(win, half), wb = sub(1, wa);
  const ga = mul(g, wa), gb = mul(g, wb);
  for (const t of [win, tie, half, wa, wb]) t.dispose();
  return [ga, gb];
}

/** a == b as 1/0 in the operands' dtype (no gradient). */
export function eq(a: TensorLike, b: TensorLike): Tensor { return binary('eq', BinaryOp.eq, a, b, null); }
/** a != b as 1/0. */
export function ne(a: TensorLike, b: TensorLike): Tensor { return binary('ne', BinaryOp.ne, a, b, null); }
/** a < b as 1/0. */
export function lt(a: TensorLike, b: TensorLike): Tensor { return binary('lt', BinaryOp.lt, a, b, null); }
/** a <= b as 1/0. */
export function le(a: TensorLike, b: TensorLike): Tensor { return binary('le', BinaryOp.le, a, b, null); }
/** a > b as 1/0. */
export function gt(a: TensorLike, b: TensorLike): Tensor { return binary('gt', BinaryOp.gt, a, b, null); }
/** a >= b as 1/0. */
export function ge(a: TensorLike, b: TensorLike): Tensor { return binary('ge', BinaryOp.ge, a, b, null); }

function unary(name: string, code: number, x: Tensor, alpha = 0): Tensor {
  checkFloat(name, 'x', checkTensor(name, 'x', x));
  const k = backendOf(name, x);
  const out = k.empty(x.shape, x.dtype);
  k.run('unary', code, x.buffer, out.buffer, alpha);
  return record(name, [x], out, (g) => {
    const dx = k.empty(x.shape, x.dtype);
    k.run('unaryBackward', code, x.buffer, out.buffer, g.buffer, dx.buffer, alpha);
    return [dx];
  });
}

/** −x. */
export function neg(x: Tensor): Tensor {
  checkTensor('neg', 'x', x);
  if (x.dtype === 'int32') return binary('neg', BinaryOp.sub, 0, x, null);
  return unary('neg', UnaryOp.neg, x);
}
/** eˣ. */
export function exp(x: Tensor): Tensor { return unary('exp', UnaryOp.exp, x); }
/** Natural logarithm. */
export function log(x: Tensor): Tensor { return unary('log', UnaryOp.log, x); }
/** Square root. */
export function sqrt(x: Tensor): Tensor { return unary('sqrt', UnaryOp.sqrt, x); }
/** Hyperbolic tangent. */
export function tanh(x: Tensor): Tensor { return unary('tanh', UnaryOp.tanh, x); }
/** Logistic sigmoid 1 / (1 + e^−x). */
export function sigmoid(x: Tensor): Tensor { return unary('sigmoid', UnaryOp.sigmoid, x); }
/** max(x, 0); the gradient at 0 is 0. */
export function relu(x: Tensor): Tensor { return unary('relu', UnaryOp.relu, x); }
/** |x|; the gradient at 0 is 0. */
export function abs(x: Tensor): Tensor { return unary('abs', UnaryOp.abs, x); }
/** x². */
export function square(x: Tensor): Tensor { return unary('square', UnaryOp.pow, x, 2); }

/** A copy of `x` with its own storage (differentiable). */
export function clone(x: Tensor): Tensor {
  checkTensor('clone', 'x', x);
  const k = backendOf('clone', x);
  const out = k.empty(x.shape, x.dtype);
  k.run('copy', [x.size], 0, [1], 0, [1], x.buffer, out.buffer);
  return record('clone', [x], out, (g) => [g]);
}
