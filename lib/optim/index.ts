/**
 * Optimisers (ns.optim), PyTorch's torch.optim: SGD, Adam, AdamW and RMSprop over fused native kernels, with
 * parameter groups and state dicts; gradient clipping; learning-rate schedulers.
 *
 *   const opt = new ns.optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 5e-4 });
 *   const sched = new ns.optim.CosineAnnealingLR(opt, { tMax: epochs });
 *   // per batch: opt.zeroGrad(); loss.backward(); ns.optim.clipGradNorm(model.parameters(), 5); opt.step();
 *   // per epoch: sched.step();
 */
export { Optimizer } from './optimizer';
export type {
  Hyperparameters, ParamGroup, ParamGroupInit, ParamGroupState, Params, OptimizerStateDict, OptimizerSpec, StateKind,
} from './optimizer';
export { SGD } from './sgd';
export type { SGDHyperparameters, SGDOptions, SGDState } from './sgd';
export { Adam, AdamW } from './adam';
export type { AdamHyperparameters, AdamOptions, AdamState } from './adam';
export { RMSprop } from './rmsprop';
export type { RMSpropHyperparameters, RMSpropOptions, RMSpropState } from './rmsprop';
export { clipGradNorm } from './clip';
export {
  LRScheduler, StepLR, MultiStepLR, CosineAnnealingLR, LinearWarmup, OneCycleLR, SequentialLR,
} from './lr_scheduler';
export type {
  LRSchedulerStateDict, StepLROptions, StepLRSettings, MultiStepLROptions, MultiStepLRSettings, CosineAnnealingLROptions,
  CosineAnnealingLRSettings, LinearWarmupOptions, LinearWarmupSettings, OneCycleLROptions, OneCycleLRSettings,
  SequentialLROptions, SequentialLRSettings, SequentialLRStateDict,
} from './lr_scheduler';
