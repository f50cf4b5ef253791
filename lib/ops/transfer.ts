/**
 * Moving tensors between devices (`to`, differentiable), and the in-place writes that state updates use
 * (assign, fill_): optimiser state, running statistics, initialisers, loadStateDict.
 */
import { copyStorage } from '../backend/storage';
import { backendFor } from '../backend/backend';
import { backendOf } from '../backend/context';
import { Device, Tensor, formatShape } from '../tensor';
import { record } from '../autograd/node';
import { checkNumber, checkTensor } from './util';

/** `x` on `device`: x itself when it is there already, else a copy (gradients flow back to x's device). */
export function to(x: Tensor, device: Device): Tensor {
  checkTensor('to', 'x', x);
  if (device !== 'cpu' && device !== 'cuda') throw new TypeError(`to: expected device 'cpu' or 'cuda' but got ${String(device)}`);
  if (x.device === device) return x;
  backendFor('to', device);
  const out = Tensor.empty(x.shape, x.dtype, device, 'to');
  copyStorage(x.storageOrThrow('to'), out.storageOrThrow('to'));
  return record('to', [x], out, (g) => [to(g, x.device)]);
}

/** Copies `src` into `dst` in place (same shape and dtype; any devices), outside the graph. @internal */
export function assign(dst: Tensor, src: Tensor): Tensor {
  checkTensor('assign', 'dst', dst);
  checkTensor('assign', 'src', src);
  if (dst.shape.join() !== src.shape.join() || dst.dtype !== src.dtype) {
    throw new RangeError(`assign: expected src of shape ${formatShape(dst.shape)} and dtype ${dst.dtype} but got ${formatShape(src.shape)} ${src.dtype}`);
  }
  if (dst.size > 0 && dst.buffer !== src.buffer) copyStorage(src.storageOrThrow('assign'), dst.storageOrThrow('assign'));
  return dst;
}

/** Sets every element of `t` to `value` in place, outside the graph. @internal */
export function fill_(t: Tensor, value: number): Tensor {
  checkTensor('fill_', 't', t);
  checkNumber('fill_', 'value', value);
  if (t.size > 0) backendOf('fill_', t).run('fill', value, t.buffer);
  return t;
}
