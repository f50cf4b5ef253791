/**
 * Shape ops: reshape (a view), squeeze/unsqueeze/flatten, permute/transpose, slicing, concatenation,
 * stacking and broadcasting. Copies go through one strided-copy kernel.
 */
import { backendOf } from '../backend/context';
import { Tensor, formatShape, sizeOf, stridesOf } from '../tensor';
import { record } from '../autograd/node';
import { checkInt, checkShape, checkTensor, normalizeAxis } from './util';
import { zeros } from './creation';
import { sumTo } from './reduce';

/** The same elements viewed with another shape (one dimension may be −1: inferred). Shares storage. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  checkTensor('reshape', 'x', x);
  if (!Array.isArray(shape)) throw new TypeError(`reshape: expected shape to be an array of integers but got ${typeof shape}`);
  const inferred = shape.filter((d) => d === -1).length;
  if (inferred > 1) throw new RangeError(`reshape: expected at most one −1 in shape but got ${formatShape(shape)}`);
  shape.forEach((d, i) => { if (d !== -1) checkInt('reshape', `shape[${i}]`, d); });
  let target = [...shape];
  if (inferred) {
    const known = sizeOf(shape.filter((d) => d !== -1));
    if (known === 0 || x.size % known !== 0) {
      throw new RangeError(`reshape: cannot infer −1 in ${formatShape(shape)} for ${x.size} elements`);
    }
    target = shape.map((d) => (d === -1 ? x.size / known : d));
  }
  if (sizeOf(target) !== x.size) {
    throw new RangeError(`reshape: expected a shape with ${x.size} elements (input ${formatShape(x.shape)}) but got ${formatShape(target)}`);
  }
  const out = new Tensor(x.storageOrThrow('reshape'), target, x.dtype);
  return record('reshape', [x], out, (g) => [reshape(g, x.shape)]);
}

/** Collapses dimensions startAxis..endAxis into one (default: all but the first). */
export function flatten(x: Tensor, startAxis = 1, endAxis = -1): Tensor {
  checkTensor('flatten', 'x', x);
  const s = normalizeAxis('flatten', startAxis, x.rank), e = normalizeAxis('flatten', endAxis, x.rank);
  if (e < s) throw new RangeError(`flatten: expected startAxis ≤ endAxis but got ${startAxis} and ${endAxis}`);
  return reshape(x, [...x.shape.slice(0, s), sizeOf(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)]);
}

/** Removes size-1 dimensions (all of them, or the given axis). */
export function squeeze(x: Tensor, axis?: number): Tensor {
  checkTensor('squeeze', 'x', x);
  if (axis === undefined) return reshape(x, x.shape.filter((d) => d !== 1));
  const a = normalizeAxis('squeeze', axis, x.rank);
  if (x.shape[a] !== 1) throw new RangeError(`squeeze: expected dimension ${axis} to have size 1 but got ${x.shape[a]}`);
  return reshape(x, x.shape.filter((_, i) => i !== a));
}

/** Inserts a size-1 dimension at `axis`. */
export function unsqueeze(x: Tensor, axis: number): Tensor {
  checkTensor('unsqueeze', 'x', x);
  const a = normalizeAxis('unsqueeze', axis, x.rank + 1);
  return reshape(x, [...x.shape.slice(0, a), 1, ...x.shape.slice(a)]);
}

/** Reorders dimensions: output dimension i is input dimension dims[i]. */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  checkTensor('permute', 'x', x);
  if (!Array.isArray(dims) || dims.length !== x.rank) {
    throw new RangeError(`permute: expected ${x.rank} dimensions for shape ${formatShape(x.shape)} but got ${Array.isArray(dims) ? formatShape(dims) : typeof dims}`);
  }
  const order = dims.map((d) => normalizeAxis('permute', d, x.rank));
  if (new Set(order).size !== order.length) throw new RangeError(`permute: expected a permutation but got ${formatShape(dims)}`);
  const shape = order.map((d) => x.shape[d]);
  const src = stridesOf(x.shape);
  const k = backendOf('permute', x);
  const out = k.empty(shape, x.dtype);
  k.run('copy', shape, 0, order.map((d) => src[d]), 0, stridesOf(shape), x.buffer, out.buffer);
  const inverse = new Array<number>(order.length);
  order.forEach((d, i) => (inverse[d] = i));
  return record('permute', [x], out, (g) => [permute(g, inverse)]);
}

/** Swaps two dimensions (the last two by default). */
export function transpose(x: Tensor, dim0 = -2, dim1 = -1): Tensor {
  checkTensor('transpose', 'x', x);
  const a = normalizeAxis('transpose', dim0, x.rank), b = normalizeAxis('transpose', dim1, x.rank);
  const order = x.shape.map((_, i) => i);
  [order[a], order[b]] = [order[b], order[a]];
  return permute(x, order);
}

/**
 * The block starting at `begin` with extent `size` (−1 or omitted: to the end) in each dimension;
 * negative begins count from the end.
 */
export function slice(x: Tensor, begin: readonly number[], size?: readonly number[]): Tensor {
  checkTensor('slice', 'x', x);
  if (!Array.isArray(begin) || begin.length > x.rank) {
    throw new RangeError(`slice: expected begin to have at most ${x.rank} entries but got ${Array.isArray(begin) ? formatShape(begin) : typeof begin}`);
  }
  if (size !== undefined && (!Array.isArray(size) || size.length !== begin.length)) {
    throw new RangeError(`slice: expected size to have ${begin.length} entries (as begin) but got ${Array.isArray(size) ? formatShape(size) : typeof size}`);
  }
  const start = x.shape.map((d, i) => {
    const b = begin[i] ?? 0;
    if (typeof b !== 'number' || !Number.isInteger(b) || b < -d || b > d) {
      throw new RangeError(`slice: expected begin[${i}] to be an integer in [${-d}, ${d}] but got ${b}`);
    }
    return b < 0 ? b + d : b;
  });
  const extent = x.shape.map((d, i) => {
    const s = size?.[i] ?? -1;
    if (s === -1) return d - start[i];
    if (typeof s !== 'number' || !Number.isInteger(s) || s < 0 || start[i] + s > d) {
      throw new RangeError(`slice: expected size[${i}] to be −1 or an integer in [0, ${d - start[i]}] but got ${s}`);
    }
    return s;
  });
  const strides = stridesOf(x.shape);
  const offset = start.reduce((p, s, i) => p + s * strides[i], 0);
  const k = backendOf('slice', x);
  const out = k.empty(extent, x.dtype);
  k.run('copy', extent, offset, strides, 0, stridesOf(extent), x.buffer, out.buffer);
  return record('slice', [x], out, (g) => {
    const dx = zeros(x.shape, { dtype: x.dtype, device: x.device });
    k.run('copy', extent, 0, stridesOf(extent), offset, strides, g.buffer, dx.buffer);
    return [dx];
  });
}

/** Joins tensors along an existing axis. */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  if (!Array.isArray(tensors) || tensors.length === 0) {
    throw new TypeError(`concat: expected a non-empty array of tensors but got ${Array.isArray(tensors) ? 'an empty array' : typeof tensors}`);
  }
  tensors.forEach((t, i) => checkTensor('concat', `tensors[${i}]`, t));
  const first = tensors[0];
  const a = normalizeAxis('concat', axis, first.rank);
  tensors.forEach((t, i) => {
    if (t.dtype !== first.dtype) throw new TypeError(`concat: expected tensors[${i}] to have dtype ${first.dtype} but got ${t.dtype}`);
    if (t.rank !== first.rank || t.shape.some((d: number, k: number) => k !== a && d !== first.shape[k])) {
      throw new RangeError(`concat: expected tensors[${i}] to match ${formatShape(first.shape)} except along axis ${a} but got ${formatShape(t.shape)}`);
    }
  });
  const shape = [...first.shape];
  shape[a] = tensors.reduce((p, t) => p + t.shape[a], 0);
  const k = backendOf('concat', ...tensors);
  const out = k.empty(shape, first.dtype);
  const dst = stridesOf(shape);
  let at = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    offsets.push(at);
    k.run('copy', t.shape, 0, stridesOf(t.shape), at * dst[a], dst, t.buffer, out.buffer);
    at += t.shape[a];
  }
  return record('concat', tensors, out, (g) =>
    tensors.map((t, i) => {
      const begin = shape.map((_, k) => (k === a ? offsets[i] : 0));
      return t.requiresGrad ? slice(g, begin, t.shape) : null;
    }));
}

/** Joins tensors of one shape along a new axis. */
export function stack(tensors: readonly Tensor[], axis = 0): Tensor {
  if (!Array.isArray(tensors) || tensors.length === 0) {
    throw new TypeError(`stack: expected a non-empty array of tensors but got ${Array.isArray(tensors) ? 'an empty array' : typeof tensors}`);
  }
  tensors.forEach((t, i) => checkTensor('stack', `tensors[${i}]`, t));
  const a = normalizeAxis('stack', axis, tensors[0].rank + 1);
  tensors.forEach((t, i) => {
    if (t.dtype !== tensors[0].dtype) throw new TypeError(`stack: expected tensors[${i}] to have dtype ${tensors[0].dtype} but got ${t.dtype}`);
    if (t.shape.join() !== tensors[0].shape.join()) {
      throw new RangeError(`stack: expected tensors[${i}] to have shape ${formatShape(tensors[0].shape)} but got ${formatShape(t.shape)}`);
    }
  });
  const parts = tensors.map((t) => unsqueeze(t, a));
  const out = concat(parts, a);
  return out;
}

/** Repeats size-1 (or missing leading) dimensions to reach `shape` (NumPy broadcasting). */
export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  checkTensor('broadcastTo', 'x', x);
  checkShape('broadcastTo', 'shape', shape);
  const lead = shape.length - x.rank;
  if (lead < 0 || x.shape.some((d, i) => d !== 1 && d !== shape[lead + i])) {
    throw new RangeError(`broadcastTo: cannot broadcast ${formatShape(x.shape)} to ${formatShape(shape)}`);
  }
  if (lead === 0 && x.shape.every((d, i) => d === shape[i])) return reshape(x, shape);
  const own = stridesOf(x.shape);
  const src = shape.map((_, i) => (i < lead || x.shape[i - lead] === 1 ? 0 : own[i - lead]));
  const k = backendOf('broadcastTo', x);
  const out = k.empty(shape, x.dtype);
  k.run('copy', shape, 0, src, 0, stridesOf(shape), x.buffer, out.buffer);
  return record('broadcastTo', [x], out, (g) => [sumTo(g, x.shape)]);
}

/**
 * Rows of `x` gathered along axis 0: out[i] = x[index[i]] (index: an int32 tensor, Int32Array or number array
 * of row numbers in [0, x.shape[0])). Not differentiable (for batching datasets, not for training through).
 */
export function indexSelect(x: Tensor, index: Tensor | Int32Array | readonly number[]): Tensor {
  checkTensor('indexSelect', 'x', x);
  if (x.rank === 0) throw new RangeError('indexSelect: expected x of at least 1 dimension but got a scalar');
  let idx: Tensor;
  if (index instanceof Tensor) {
    checkTensor('indexSelect', 'index', index);
    if (index.dtype !== 'int32' || index.rank !== 1) {
      throw new TypeError(`indexSelect: expected index to be a 1-D int32 tensor but got ${index.dtype} of shape ${formatShape(index.shape)}`);
    }
    idx = index;
  } else if (index instanceof Int32Array || Array.isArray(index)) {
    idx = Tensor.fromHost(index, [index.length], 'int32', x.device);
  } else {
    throw new TypeError(`indexSelect: expected index to be an int32 tensor, an Int32Array or an array of numbers but got ${index === null ? 'null' : typeof index}`);
  }
  const k = backendOf('indexSelect', x, idx);
  const row = sizeOf(x.shape.slice(1));
  const out = k.empty([idx.size, ...x.shape.slice(1)], x.dtype);
  if (out.size > 0) k.run('indexSelect', row, x.buffer, idx.buffer, out.buffer);
  if (idx !== index) idx.dispose();
  return out;
}
