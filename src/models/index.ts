/** `fewshot-rkd/models`: the Conv-4 backbone and checkpoints. */
export { conv4, embeddingSize, embedInference, embedTraining, checkImageShape } from './conv4.js';
export type { Conv4Options, EmbedOptions } from './conv4.js';
export { saveCheckpoint, loadCheckpoint, loadModel, hasCheckpoint } from './checkpoint.js';
export type { Checkpoint, TrainingState } from './checkpoint.js';
export { zooDir, zooNames, readCard, resolveModel, isZooModel, cardText } from './zoo.js';
export type { ModelCard, CardResult, ModelLocation } from './zoo.js';
