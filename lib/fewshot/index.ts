/**
 * ns.fewshot: N-way K-shot episodes (EpisodeSampler, splitClasses), prototypical networks (trainPrototypical,
 * evaluatePrototypical with 95% confidence intervals), and the runs behind the CLI's fewshot-train and
 * fewshot-predict.
 */
export { EpisodeSampler, splitClasses } from './sampler';
export type { Episode, EpisodeSamplerOptions } from './sampler';
export { prototypicalLogits, distanceLogits, trainPrototypical, evaluatePrototypical } from './protonet';
export type { PrototypicalTrainOptions, PrototypicalHistory, PrototypicalEvalOptions, FewShotResult } from './protonet';
export { loadFewShotData, fewshotTrainRun, fewshotPredict } from './run';
export type { FewShotTrainOptions, FewShotRunResult } from './run';
