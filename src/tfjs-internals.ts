/**
 * Every private part of TensorFlow.js this project reaches, in one place. Each is needed for speed
 * or memory (the lean batch norm, the fused Conv-4 blocks, the native kernels on the wasm heap) and
 * none is public API, so the tfjs version is pinned exactly (package.json) and
 * test/tfjs-internals.test.ts checks each of them against the installed tfjs.
 */
import * as tf from '@tensorflow/tfjs';
import type { BatchNormalization } from '@tensorflow/tfjs-layers/dist/layers/normalization.js';

/** The tfjs version whose internals these are: the exact version package.json requires. */
export const TFJS_VERSION = '4.22.0';

/** What the lean batch norm uses of tf.layers' BatchNormalization's private state. */
export interface BatchNormState {
  axis: number;
  momentum: number;
  epsilon: number;
  gamma: { read(): tf.Tensor };
  beta: { read(): tf.Tensor };
  movingMean: { read(): tf.Tensor; write(t: tf.Tensor): void };
  movingVariance: { read(): tf.Tensor; write(t: tf.Tensor): void };
}

/** The class behind tf.layers.batchNormalization, which tfjs does not export by name. */
export const BatchNormalizationBase = Object.getPrototypeOf(tf.layers.batchNormalization({}))
  .constructor as typeof BatchNormalization;

export function batchNormState(layer: tf.layers.Layer): BatchNormState {
  return layer as unknown as BatchNormState;
}

/** What the fused Conv-4 blocks read of a tf.layers Conv2D. */
export interface ConvState {
  kernel: { read(): tf.Tensor };
  bias?: { read(): tf.Tensor };
  kernelSize: number[];
  strides: number[];
  padding: string;
  dilationRate: number[];
  activation: { getClassName(): string };
}

export function convState(layer: tf.layers.Layer): ConvState {
  return layer as unknown as ConvState;
}

/**
 * tfjs-backend-cpu prints a banner advising tfjs-node on its first tensor in Node. Every run's
 * backend line already says what runs (and `fewshot doctor` why): mark the backend as used so
 * that stderr holds our lines alone.
 */
export function silenceCpuBanner(backend: tf.KernelBackend): void {
  (backend as unknown as { firstUse: boolean }).firstUse = false;
}

/** The parts of tfjs's Engine through which a backend gets chosen. */
interface BackendChoosing {
  backendName: string | null;
  initializeBackendsAndReturnBest(): { name: string; asyncInit: boolean };
  setBackend(name: string): Promise<boolean>;
}

let pickingImplicitly = false;
let setByCaller: string | undefined;
{
  // tfjs chooses a backend implicitly (the first tensor made before any tf.setBackend) through
  // initializeBackendsAndReturnBest then setBackend; a program chooses through setBackend alone.
  // Telling the two apart lets the library keep a backend the program chose and replace only
  // tfjs's implicit pick (its pure-JS cpu backend, ten times slower).
  const engine = tf.engine() as unknown as BackendChoosing;
  const pickBest = engine.initializeBackendsAndReturnBest.bind(engine);
  const setBackend = engine.setBackend.bind(engine);
  engine.initializeBackendsAndReturnBest = () => {
    pickingImplicitly = true;
    return pickBest();
  };
  engine.setBackend = (name: string) => {
    setByCaller = pickingImplicitly ? undefined : name;
    pickingImplicitly = false;
    return setBackend(name);
  };
}

/** The backend in use if a program (or this library) chose it with tf.setBackend; undefined if tfjs picked it. */
export function backendSetByCaller(): string | undefined {
  const active = (tf.engine() as unknown as BackendChoosing).backendName;
  return active !== null && active === setByCaller ? active : undefined;
}
