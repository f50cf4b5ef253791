/**
 * Reverse-mode differentiation over the recorded graph: topological order from the root, gradients
 * summed per tensor, accumulated into `.grad` on leaves, intermediate gradients disposed as soon as they
 * are used, and each node's saved tensors released after it runs (unless retainGraph).
 */
import type { Tensor } from '../tensor';
import { formatShape } from '../tensor';
import { keep } from '../memory';
import { noGrad } from './node';
import { checkBool, checkOptions } from '../ops/util';

/** The two ops backward uses: summing gradients and seeding a scalar root with ones. */
export interface GradientOps {
  add(a: Tensor, b: Tensor): Tensor;
  onesLike(t: Tensor): Tensor;
}

let ops: GradientOps | null = null;

/** Installs the gradient ops (lib/ops/methods.ts does, with Tensor's methods), so that the tape imports no op. */
export function installGradientOps(gradientOps: GradientOps): void {
  ops = gradientOps;
}

/** Options of `Tensor.backward`. */
export interface BackwardOptions {
  /** Keep the graph so that backward can run through it again (default false). */
  retainGraph?: boolean;
}

function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // Iterative depth-first search: deep graphs must not overflow the JS stack.
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [t, next] = top;
    const inputs = t.gradFn?.inputs ?? [];
    if (next < inputs.length) {
      top[1]++;
      const input = inputs[next];
      if (input && !seen.has(input)) {
        seen.add(input);
        stack.push([input, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order.reverse();
}

/** See `Tensor.backward`. */
export function backward(root: Tensor, grad?: Tensor, options: BackwardOptions = {}): void {
  if (root.isDisposed) throw new Error(`backward: the tensor (shape ${formatShape(root.shape)}) is disposed`);
  const retainGraph = checkBool('backward', 'retainGraph', checkOptions('backward', options, ['retainGraph']).retainGraph, false);
  if (!root.requiresGrad) {
    throw new Error('backward: expected a tensor that requires grad (computed from tensors with requiresGrad) but got one that does not');
  }
  if (grad === undefined && root.size !== 1) {
    throw new RangeError(`backward: expected a gradient argument for a tensor of shape ${formatShape(root.shape)} (only one-element tensors get an implicit gradient of 1)`);
  }
  if (grad !== undefined) {
    if (typeof grad !== 'object' || grad === null || typeof (grad as Tensor).storageOrThrow !== 'function') {
      throw new TypeError(`backward: expected grad to be a Tensor but got ${grad === null ? 'null' : typeof grad}`);
    }
    if (grad.shape.join() !== root.shape.join()) {
      throw new RangeError(`backward: expected grad of shape ${formatShape(root.shape)} but got ${formatShape(grad.shape)}`);
    }
    if (grad.dtype !== root.dtype) {
      throw new TypeError(`backward: expected grad of dtype ${root.dtype} but got ${grad.dtype}`);
    }
    if (grad.isDisposed) throw new Error(`backward: grad (shape ${formatShape(grad.shape)}) is disposed`);
  }
  if (!ops) throw new Error('backward: the gradient ops are not installed (import the library through its index)');
  const { add, onesLike } = ops;
  noGrad(() => {
    const grads = new Map<Tensor, Tensor>();
    const owned = new Set<Tensor>();  // gradients created here, to dispose after use
    const seed = grad ?? onesLike(root);
    if (!grad) owned.add(seed);
    grads.set(root, seed);
    for (const t of topologicalOrder(root)) {
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      const node = t.gradFn;
      if (!node) {
        // A leaf: accumulate into .grad, which outlives any tidy scope.
        if (t.grad) {
          const sum = add(t.grad, g);
          t.grad.dispose();
          t.grad = keep(sum);
          if (owned.has(g)) g.dispose();
        } else {
          t.grad = keep(owned.has(g) ? g : g.detach());
        }
        continue;
      }
      if (!node.backward) {
        throw new Error(`backward: the graph through '${node.name}' was already used by an earlier backward(); pass { retainGraph: true } to the first call to go through it twice`);
      }
      // A backward function may pass its gradient through unchanged, to several inputs: give each
      // input its own alias (views share storage) so that disposing one leaves the others intact.
      const returned = new Set<Tensor>();
      const inputGrads = node.backward(g).map((ig) => {
        if (!ig) return null;
        const alias = ig === g || returned.has(ig) ? ig.detach() : ig;
        returned.add(ig);
        return alias;
      });
      if (owned.has(g)) g.dispose();
      node.inputs.forEach((input, i) => {
        const ig = inputGrads[i];
        if (!input || !ig) {
          if (ig && !input) ig.dispose();
          return;
        }
        if (ig.shape.join() !== input.shape.join()) {
          throw new Error(`backward: '${node.name}' produced a gradient of shape ${formatShape(ig.shape)} for an input of shape ${formatShape(input.shape)}`);
        }
        const previous = grads.get(input);
        if (previous) {
          grads.set(input, add(previous, ig));
          if (owned.has(previous)) previous.dispose();
          ig.dispose();  // fresh from the backward function, or an alias of g
          owned.add(grads.get(input)!);
        } else {
          grads.set(input, ig);
          owned.add(ig);
        }
      });
      if (!retainGraph) {
        node.backward = null;
        node.inputs = [];
      }
    }
  });
}
