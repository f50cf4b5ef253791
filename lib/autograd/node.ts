/**
 * The tape: each op whose inputs require grad records a GradNode on its output, holding the inputs and
 * a closure that maps the output's gradient to the inputs' gradients.
 */
import type { Tensor } from '../tensor';

/** Maps the gradient of an op's output to the gradients of its inputs (null: no gradient for that input). */
export type BackwardFn = (grad: Tensor) => (Tensor | null)[];

/** One recorded op. */
export interface GradNode {
  /** The op's name, for messages. */
  readonly name: string;
  /** The op's inputs, in the order the backward function returns their gradients. */
  inputs: (Tensor | null)[];
  /** Null once released after backward (saved tensors freed). */
  backward: BackwardFn | null;
}

let gradEnabled = true;

/** Whether ops record the graph right now. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` without recording the graph (inference, optimiser updates). */
export function noGrad<T>(fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

/**
 * Records `output = op(inputs)` when gradients are on and an input requires them. `backward` receives
 * the output's gradient and returns one gradient (or null) per input.
 */
export function record(name: string, inputs: readonly (Tensor | null | undefined)[], output: Tensor,
                       backward: BackwardFn): Tensor {
  if (!gradEnabled) return output;
  if (!inputs.some((t) => t?.requiresGrad)) return output;
  output.setGradFn({ name, inputs: inputs.map((t) => (t?.requiresGrad ? t : null)), backward });
  return output;
}
