/** `fewshot-rkd/losses`: the prototypical loss, RKD-D and RKD-A (Park et al. 2019), and KD. */
export { prototypes, negativeSquaredDistances, prototypicalLoss } from './protonet.js';
export type { ProtoOutput } from './protonet.js';
export { rkdDistance, rkdDistanceByDefinition, rkdAngle, rkdAngleByDefinition, pairwiseDistances } from './rkd.js';
export type { RkdDistanceOptions } from './rkd.js';
export type { RkdAngleOptions } from './rkd-gram.js';
export { huber } from './huber.js';
export { kdLoss } from './kd.js';
