/**
 * Module.summary: output shapes, parameter counts and multiply-accumulates per module, from one forward pass
 * on zeros.
 */
import type { Module } from './module';
import { Tensor, DType, formatShape } from '../tensor';
import { defaultDevice } from '../backend/backend';
import { noGrad } from '../autograd/node';
import { tidy } from '../memory';
import { zeros } from '../ops/creation';
import { checkBool, checkOptions, checkShape } from '../ops/util';

/** Options of Module.summary. */
export interface SummaryOptions {
  /** Also print the table with console.log (default false). */
  print?: boolean;
}

/** One module's row of a summary. */
export interface LayerSummary {
  /** Dotted name ('' for the module summarised). */
  name: string;
  /** Class name. */
  type: string;
  /** Nesting depth: 0 for the module summarised, 1 for its children, … */
  depth: number;
  /** Shape of the output of its first call, or null when the forward pass did not call it. */
  outputShape: number[] | null;
  /** How many times the forward pass called it. */
  calls: number;
  /** Parameters of the module and everything below it (shared ones once). */
  parameters: number;
  /** Multiply-accumulates of the module and everything below it, over all their calls. */
  macs: number;
}

/** What Module.summary returns. */
export interface ModelSummary {
  /** Shape of the zeros fed to the module. */
  inputShape: number[];
  /** Shape of its output. */
  outputShape: number[];
  /** One row per module, the summarised one first, in namedModules order. */
  layers: LayerSummary[];
  /** Parameters (shared ones once). */
  totalParameters: number;
  /** Parameters with requiresGrad. */
  trainableParameters: number;
  /** Multiply-accumulates of the whole forward pass. */
  totalMacs: number;
  /** The table as text (what print writes). */
  text: string;
}

/** 1234567 → "1,234,567". */
function thousands(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

interface CallRecord { shape: number[] | null; calls: number; macs: number }

/** The implementation of Module.summary. @internal */
export function summarize(root: Module, inputShape: readonly number[], options?: SummaryOptions): ModelSummary {
  const op = 'summary';
  const print = checkBool(op, 'print', checkOptions(op, options, ['print']).print, false);
  const shape = [...checkShape(op, 'inputShape', inputShape)];
  const named = root.namedModules();
  const state = [...root.parameters(), ...root.buffers()];
  const first = state.find((t) => t.dtype !== 'int32');
  const dtype: DType = first?.dtype ?? 'float32';
  const device = state[0]?.device ?? defaultDevice();

  // Every module's forward is wrapped for the pass (an own property shadowing the class's method) and restored.
  const records = new Map<Module, CallRecord>();
  const saved: [Module, PropertyDescriptor | undefined][] = [];
  const modes: [Module, boolean][] = named.map(([, m]) => [m, m.training]);
  let outputShape: number[];
  try {
    for (const [, m] of named) {
      const record: CallRecord = { shape: null, calls: 0, macs: 0 };
      records.set(m, record);
      saved.push([m, Object.getOwnPropertyDescriptor(m, 'forward')]);
      const forward = m.forward;
      m.forward = (x: Tensor): Tensor => {
        const y = forward.call(m, x);
        record.calls++;
        record.shape ??= [...y.shape];
        record.macs += m.ownMacs(x.shape, y.shape);
        return y;
      };
    }
    root.eval();
    outputShape = tidy(() => noGrad(() => [...root.forward(zeros(shape, { dtype, device })).shape]));
  } finally {
    for (const [m, descriptor] of saved) {
      if (descriptor) Object.defineProperty(m, 'forward', descriptor);
      else Reflect.deleteProperty(m, 'forward');
    }
    for (const [m, mode] of modes) m.training = mode;
  }

  const layers: LayerSummary[] = named.map(([name, m]) => {
    const record = records.get(m)!;
    return {
      name,
      type: m.constructor.name,
      depth: name === '' ? 0 : name.split('.').length,
      outputShape: record.shape,
      calls: record.calls,
      parameters: m.numParameters(),
      macs: m.modules().reduce((p, sub) => p + (records.get(sub)?.macs ?? 0), 0),
    };
  });
  const params = root.parameters();
  const totalParameters = root.numParameters();
  const trainableParameters = params.filter((t) => t.requiresGrad).reduce((p, t) => p + t.size, 0);
  const totalMacs = layers[0].macs;

  const rows = layers.map((l) => [
    `${'  '.repeat(l.depth)}${l.depth === 0 ? l.type : `${l.name.split('.').pop()} (${l.type})`}`,
    l.outputShape ? formatShape(l.outputShape) : '--',
    thousands(l.parameters),
    thousands(l.macs),
  ]);
  const header = ['Layer (type)', 'Output shape', 'Param #', 'Mult-adds'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('   ');
  const rule = '='.repeat(widths.reduce((p, w) => p + w, 0) + 3 * (widths.length - 1));
  const text = [
    line(header), rule, ...rows.map(line), rule,
    `Total params: ${thousands(totalParameters)}`,
    `Trainable params: ${thousands(trainableParameters)}`,
    `Non-trainable params: ${thousands(totalParameters - trainableParameters)}`,
    `Total mult-adds: ${thousands(totalMacs)}`,
    `Input shape: ${formatShape(shape)}`,
    `Output shape: ${formatShape(outputShape)}`,
  ].join('\n');
  if (print) console.log(text);
  return { inputShape: shape, outputShape, layers, totalParameters, trainableParameters, totalMacs, text };
}
