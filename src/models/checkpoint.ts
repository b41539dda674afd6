/**
 * Checkpoints: a folder with the model in the TensorFlow.js layers-model format (`model.json` +
 * `weights.bin`, loadable by `tf.loadLayersModel`) and, for training runs, `state.json` +
 * `optimizer.bin` (the optimizer's moments). Written atomically: a folder is complete or absent.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { recoverFolder, writeFileComplete, writeFolderAtomic } from '../atomic.js';
import { readRegularFile, readTextFile } from '../files.js';
import { CARD_JSON, resolveModel } from './zoo.js';

const MODEL_JSON = 'model.json';
const WEIGHTS_BIN = 'weights.bin';
const STATE_JSON = 'state.json';
const OPTIMIZER_BIN = 'optimizer.bin';

/** A tfjs IOHandler writing model.json + weights.bin into `dir` (the tfjs-node `file://` layout). */
function folderSaver(dir: string): tf.io.IOHandler {
  return {
    save: async (artifacts: tf.io.ModelArtifacts) => {
      const weights = new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData));
      const modelJson = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: artifacts.weightSpecs }],
      };
      writeFileComplete(path.join(dir, MODEL_JSON), [Buffer.from(JSON.stringify(modelJson))]);
      writeFileComplete(path.join(dir, WEIGHTS_BIN), [weights]);
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },
  };
}

/**
 * Throws, naming the file, if a float weight is NaN or infinite: a model that diverged (or was
 * corrupted) would evaluate to chance and teach nonsense without a word.
 */
function checkFinite(data: ArrayBuffer, manifest: tf.io.WeightsManifestConfig, file: string): void {
  let offset = 0;
  for (const spec of manifest.flatMap((g) => g.weights)) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const bytes = (spec.dtype === 'bool' ? 1 : 4) * count;
    if (spec.dtype === 'float32' && !new Float32Array(data.slice(offset, offset + bytes)).every(Number.isFinite))
      throw new Error(
        `${file}: weight ${spec.name} is not finite (NaN or infinity): a diverged or corrupt model, refused`,
      );
    offset += bytes;
  }
}

/** sha256 of a checkpoint's weights.bin (undefined where there is none): the identity of its weights. */
export function weightsDigest(dir: string): string | undefined {
  const file = path.join(dir, WEIGHTS_BIN);
  return fs.existsSync(file) ? createHash('sha256').update(readRegularFile(file)).digest('hex') : undefined;
}

/**
 * Reads a checkpoint folder for tfjs. `weightsSha256` (a zoo model's card): the weights' bytes as
 * read must have it, else the model is refused naming the file.
 */
function folderLoader(dir: string, weightsSha256?: string): tf.io.IOHandler {
  return {
    load: async () => {
      const file = path.join(dir, MODEL_JSON);
      if (!fs.existsSync(file)) throw new Error(`${dir}: not a checkpoint (no ${MODEL_JSON})`);
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      let json: Record<string, any>;
      try {
        json = JSON.parse(readTextFile(file));
      } catch (err) {
        throw new Error(`${file}: not valid JSON (${(err as Error).message}): a torn or edited checkpoint`, {
          cause: err,
        });
      }
      const manifest = json.weightsManifest as tf.io.WeightsManifestConfig;
      if (!Array.isArray(manifest)) throw new Error(`${file}: no weightsManifest: not a tfjs layers model`);
      const buffers = manifest.flatMap((group) =>
        group.paths.map((p) => {
          // Weight paths stay inside the checkpoint folder.
          const where = path.resolve(dir, p);
          if (path.dirname(where) !== path.resolve(dir))
            throw new Error(`${file}: weight path '${p}' points outside the checkpoint`);
          const bytes = readRegularFile(where);
          return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
        }),
      );
      if (weightsSha256 !== undefined) {
        const hash = createHash('sha256');
        for (const b of buffers) hash.update(new Uint8Array(b));
        const got = hash.digest('hex');
        const bytes = buffers.reduce((sum, b) => sum + b.byteLength, 0);
        if (got !== weightsSha256)
          throw new Error(
            `${path.join(dir, WEIGHTS_BIN)}: sha256 ${got} (${bytes} bytes), its model card (${CARD_JSON}) says ${weightsSha256}: a tampered or truncated model, refused`,
          );
      }
      const needed = manifest
        .flatMap((g) => g.weights)
        .reduce((sum, w) => sum + (w.dtype === 'bool' ? 1 : 4) * w.shape.reduce((a, b) => a * b, 1), 0);
      const got = buffers.reduce((sum, b) => sum + b.byteLength, 0);
      if (got !== needed) {
        throw new Error(
          `${path.join(dir, WEIGHTS_BIN)}: ${got} bytes, ${MODEL_JSON}'s weights need ${needed} (a truncated or torn checkpoint)`,
        );
      }
      const weightData = tf.io.CompositeArrayBuffer.join(buffers);
      checkFinite(weightData, manifest, path.join(dir, WEIGHTS_BIN));
      return {
        modelTopology: json.modelTopology,
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        weightSpecs: manifest.flatMap((group) => group.weights),
        weightData,
      };
    },
  };
}

/** Everything beyond the weights that a resumed run needs, plus what the run wants remembered. */
export interface TrainingState {
  readonly [key: string]: unknown;
}

export interface Checkpoint<S extends TrainingState = TrainingState> {
  readonly model: tf.LayersModel;
  readonly state?: S;
  readonly optimizerWeights?: { name: string; tensor: tf.Tensor }[];
}

/** Saves a model (and optionally training state and optimizer weights) as the folder `dir`. */
export async function saveCheckpoint(
  dir: string,
  model: tf.LayersModel,
  state?: TrainingState,
  optimizerWeights?: readonly { name: string; tensor: tf.Tensor }[],
): Promise<void> {
  const optimizer = optimizerWeights !== undefined;
  const specs = (optimizerWeights ?? []).map((w) => ({ name: w.name, shape: w.tensor.shape }));
  const data = await Promise.all((optimizerWeights ?? []).map((w) => w.tensor.data()));
  await writeFolderAtomic(dir, async (tmp) => {
    await model.save(folderSaver(tmp));
    if (state) {
      const body = optimizer ? { ...state, optimizer: specs } : state;
      writeFileComplete(path.join(tmp, STATE_JSON), [Buffer.from(JSON.stringify(body, null, 2))]);
    }
    if (optimizer) {
      const floats = Float32Array.from(data.flatMap((d) => Array.from(d)));
      writeFileComplete(path.join(tmp, OPTIMIZER_BIN), [new Uint8Array(floats.buffer)]);
    }
  });
}

export function hasCheckpoint(dir: string): boolean {
  recoverFolder(dir);
  return fs.existsSync(path.join(dir, MODEL_JSON));
}

/**
 * Loads a model saved by `saveCheckpoint` (or any tfjs layers model folder), or a zoo model by name
 * (`protonet-cifar-fs-1shot`: its weights checked against the card's sha256).
 */
export async function loadModel(dirOrName: string): Promise<tf.LayersModel> {
  const { dir, weightsSha256 } = resolveModel(dirOrName);
  recoverFolder(dir);
  try {
    return await tf.loadLayersModel(folderLoader(dir, weightsSha256));
  } catch (err) {
    const message = (err as Error).message.split('\n')[0];
    if (message.includes(dir)) throw err;
    // tfjs's own messages (a shape or dtype edited in model.json) name no file.
    throw new Error(
      `${path.join(dir, MODEL_JSON)}: does not load as a model (${message}): an edited or foreign checkpoint`,
      {
        cause: err,
      },
    );
  }
}

/** Loads model, training state and optimizer weights of a training checkpoint. */
export async function loadCheckpoint<S extends TrainingState>(dirOrName: string): Promise<Checkpoint<S>> {
  const model = await loadModel(dirOrName);
  const { dir } = resolveModel(dirOrName);
  const stateFile = path.join(dir, STATE_JSON);
  if (!fs.existsSync(stateFile)) return { model };
  let parsed: { optimizer?: { name: string; shape: number[] }[] } & Record<string, unknown>;
  try {
    parsed = JSON.parse(readTextFile(stateFile));
  } catch (err) {
    model.dispose();
    throw new Error(`${stateFile}: not a checkpoint state (${(err as Error).message}): a torn or edited checkpoint`, {
      cause: err,
    });
  }
  const { optimizer: specs, ...state } = parsed;
  if (!specs) return { model, state: state as S };
  const file = path.join(dir, OPTIMIZER_BIN);
  const bytes = readRegularFile(file);
  const needed = 4 * specs.reduce((sum, { shape }) => sum + shape.reduce((a, b) => a * b, 1), 0);
  if (bytes.byteLength !== needed) {
    model.dispose();
    throw new Error(
      `${file}: ${bytes.byteLength} bytes, ${STATE_JSON}'s optimizer needs ${needed} (a truncated or torn checkpoint)`,
    );
  }
  const floats = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  let offset = 0;
  const optimizerWeights = specs.map(({ name, shape }) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const tensor = tf.tensor(floats.slice(offset, offset + size), shape);
    offset += size;
    return { name, tensor };
  });
  return { model, state: state as S, optimizerWeights };
}
