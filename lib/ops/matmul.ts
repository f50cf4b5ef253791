/**
 * Matrix products: matmul (NumPy/PyTorch semantics, batched with broadcasting) and linear.
 */
import { OpContext, backendOf } from '../backend/context';
import { NativeBuffer } from '../backend/types';
import { Tensor, formatShape, sizeOf } from '../tensor';
import { record } from '../autograd/node';
import { checkRank, checkSameDtype, floatTensor } from './util';
import { broadcastShapes } from './elementwise';
import { broadcastTo, reshape } from './shape';
import { sum, sumTo } from './reduce';

/** A strided view of a batch of matrices: element (b, i, j) at data[b·bs + i·rs + j·cs]. */
interface MatrixView {
  data: NativeBuffer;
  bs: number;
  rs: number;
  cs: number;
}

/** Row-major [batch, rows, cols] matrices, optionally read transposed. */
function view(t: Tensor, rows: number, cols: number, transposed: boolean, batchStride = rows * cols): MatrixView {
  return transposed
    ? { data: t.buffer, bs: batchStride, rs: 1, cs: cols }
    : { data: t.buffer, bs: batchStride, rs: cols, cs: 1 };
}

/** C[b] (+)= A[b] · B[b] into a fresh or given tensor of shape `shape`. */
function gemm(ctx: OpContext, batch: number, m: number, n: number, k: number, a: MatrixView, b: MatrixView, out: Tensor,
              accumulate = false): Tensor {
  ctx.run('matmul', batch, m, n, k, a.bs, a.rs, a.cs, b.bs, b.rs, b.cs, accumulate ? 1 : 0, a.data, b.data, out.buffer);
  return out;
}

/**
 * Matrix product with PyTorch semantics: 1-D operands are promoted (and the added dimension removed),
 * leading batch dimensions broadcast.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  floatTensor('matmul', 'a', a);
  floatTensor('matmul', 'b', b);
  checkSameDtype('matmul', a, 'a', b, 'b');
  if (a.rank === 0 || b.rank === 0) {
    throw new RangeError(`matmul: expected tensors of at least 1 dimension but got shapes ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  }
  const a2 = a.rank === 1 ? reshape(a, [1, a.shape[0]]) : a;
  const b2 = b.rank === 1 ? reshape(b, [b.shape[0], 1]) : b;
  const [m, k] = a2.shape.slice(-2), [k2, n] = b2.shape.slice(-2);
  if (k !== k2) {
    throw new RangeError(`matmul: expected the inner dimensions to match but got shapes ${formatShape(a.shape)} and ${formatShape(b.shape)} (${k} vs ${k2})`);
  }
  const ctx = backendOf('matmul', a, b);
  const batchShape = broadcastShapes('matmul', a2.shape.slice(0, -2), b2.shape.slice(0, -2));
  const batch = sizeOf(batchShape);
  // Each operand is either a full batch, a single matrix shared by the batch (stride 0), or broadcast
  // across some batch dimensions, in which case it is materialised.
  const operand = (t: Tensor, rows: number, cols: number): Tensor => {
    const own = sizeOf(t.shape.slice(0, -2));
    return own === batch || own === 1 ? t : broadcastTo(t, [...batchShape, rows, cols]);
  };
  const ea = operand(a2, m, k), eb = operand(b2, k, n);
  const abs = sizeOf(ea.shape.slice(0, -2)) === 1 ? 0 : m * k, bbs = sizeOf(eb.shape.slice(0, -2)) === 1 ? 0 : k * n;
  const out3 = gemm(ctx, batch, m, n, k, view(ea, m, k, false, abs), view(eb, k, n, false, bbs), ctx.empty([...batchShape, m, n], a.dtype));
  let outShape = [...batchShape, m, n];
  if (a.rank === 1) outShape = outShape.filter((_, i) => i !== outShape.length - 2);
  if (b.rank === 1) outShape = outShape.slice(0, -1);
  const out = outShape.length === out3.rank ? out3 : reshape(out3, outShape);
  if (out !== out3) out3.dispose();
  return record('matmul', [a, b], out, (g) => {
    const g3 = reshape(g, [...batchShape, m, n]);
    let da: Tensor | null = null, db: Tensor | null = null;
    if (a.requiresGrad) {
      // dA[b] = G[b] · B[b]ᵀ, summed to A's own batch shape.
      const full = gemm(ctx, batch, m, k, n, view(g3, m, n, false), view(eb, k, n, true, bbs), ctx.empty([...batchShape, m, k], a.dtype));
      const reduced = sumTo(full, a2.shape);
      full.dispose();
      da = reshape(reduced, a.shape);
      reduced.dispose();
    }
    if (b.requiresGrad) {
      // dB[b] = A[b]ᵀ · G[b], summed to B's own batch shape.
      const full = gemm(ctx, batch, k, n, m, view(ea, m, k, true, abs), view(g3, m, n, false), ctx.empty([...batchShape, k, n], a.dtype));
      const reduced = sumTo(full, b2.shape);
      full.dispose();
      db = reshape(reduced, b.shape);
      reduced.dispose();
    }
    g3.dispose();
    return [da, db];
  });
}

/** y = x · wᵀ + bias, with x [..., in], w [out, in], bias [out]. */
export function linear(x: Tensor, w: Tensor, bias?: Tensor | null): Tensor {
  floatTensor('linear', 'x', x);
  floatTensor('linear', 'w', w);
  checkRank('linear', 'w', w, 2, '[out, in]');
  checkSameDtype('linear', x, 'x', w, 'w');
  if (x.rank < 1 || x.shape[x.rank - 1] !== w.shape[1]) {
    throw new RangeError(`linear: expected x's last dimension to be ${w.shape[1]} (w is ${formatShape(w.shape)}) but got shape ${formatShape(x.shape)}`);
  }
  const [outF, inF] = w.shape;
  if (bias !== undefined && bias !== null) {
    floatTensor('linear', 'bias', bias);
    checkSameDtype('linear', x, 'x', bias, 'bias');
    if (bias.rank !== 1 || bias.shape[0] !== outF) {
      throw new RangeError(`linear: expected bias of shape [${outF}] but got ${formatShape(bias.shape)}`);
    }
  }
  const ctx = backendOf('linear', x, w, bias);
  const rows = x.size / inF;
  const out = ctx.empty([...x.shape.slice(0, -1), outF], x.dtype);
  // Every row starts as the bias; the product accumulates onto it.
  if (bias && rows > 0) ctx.run('copy', [rows, outF], 0, [0, 1], 0, [outF, 1], bias.buffer, out.buffer);
  gemm(ctx, 1, rows, outF, inF, view(x, rows, inF, false), view(w, outF, inF, true), out, !!bias);
  return record('linear', [x, w, bias ?? null], out, (g) => {
    const dx = x.requiresGrad ? gemm(ctx, 1, rows, inF, outF, view(g, rows, outF, false), view(w, outF, inF, false), ctx.empty(x.shape, x.dtype)) : null;
    const dw = w.requiresGrad ? gemm(ctx, 1, outF, inF, rows, view(g, rows, outF, true), view(x, rows, inF, false), ctx.empty(w.shape, w.dtype)) : null;
    let db: Tensor | null = null;
    if (bias?.requiresGrad) {
      const g2 = reshape(g, [rows, outF]);
      db = sum(g2, 0);
      g2.dispose();
    }
    return [dx, dw, db];
  });
}
