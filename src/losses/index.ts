/** `fewshot-rkd/losses`: the prototypical loss, RKD-D and RKD-A (Park et al. 2019), and KD. */
export { prototypes, negativeSquaredDistances, prototypicalLoss } from './protonet.js';
export type { ProtoOutput } from './protonet.js';
export { rkdDistance, rkdAngle, pairwiseDistances } from './rkd.js';
export { kdLoss } from './kd.js';
