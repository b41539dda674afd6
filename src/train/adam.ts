/**
 * Adam (Kingma & Ba 2015) over a fixed list of variables, with the bias corrections computed from
 * the step count in double precision.
 *
 * Why not `tf.train.adam`: it multiplies `accBeta = beta^t` step by step in float32 but recomputes
 * it with `pow` when its weights are restored, and the two differ in the last bit for most t >= 18,
 * so a resumed run drifts from an uninterrupted one. Here the state is the moments and `t` alone:
 * restoring them gives exactly the next step the live run would have taken. The learning rate is a
 * plain argument of each step (schedules need no access to optimizer internals).
 */
import * as tf from '@tensorflow/tfjs';

export interface AdamOptions {
  readonly beta1?: number;
  readonly beta2?: number;
  /** Added to sqrt(v-hat); tfjs's default for float32 backends. */
  readonly epsilon?: number;
}

/** A named optimizer tensor as checkpoints store it. */
export interface NamedTensor {
  readonly name: string;
  readonly tensor: tf.Tensor;
}

export class Adam {
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  /** Updates applied so far. */
  step = 0;
  private readonly m: tf.Variable[];
  private readonly v: tf.Variable[];

  constructor(
    private readonly variables: readonly tf.Variable[],
    options: AdamOptions = {},
  ) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-7;
    // (A variable shares its initial tensor's data: the tidy frees the zeros tensor itself.)
    this.m = variables.map((x) => tf.tidy(() => tf.variable(tf.zerosLike(x), false)));
    this.v = variables.map((x) => tf.tidy(() => tf.variable(tf.zerosLike(x), false)));
  }

  /** One update with `gradients[i]` for `variables[i]`; `lr` is this step's learning rate. */
  apply(gradients: readonly tf.Tensor[], lr: number): void {
    if (gradients.length !== this.variables.length) {
      throw new Error(`Adam: ${gradients.length} gradients for ${this.variables.length} variables`);
    }
    const t = ++this.step;
    // x -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps): the scalars in double.
    const stepSize = lr / (1 - this.beta1 ** t);
    const vScale = 1 / Math.sqrt(1 - this.beta2 ** t);
    tf.tidy(() => {
      gradients.forEach((g, i) => {
        const m = tf.add(tf.mul(this.m[i], this.beta1), tf.mul(g, 1 - this.beta1));
        const v = tf.add(tf.mul(this.v[i], this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        const denominator = tf.add(tf.mul(tf.sqrt(v), vScale), this.epsilon);
        this.variables[i].assign(tf.sub(this.variables[i], tf.mul(tf.div(m, denominator), stepSize)));
        this.m[i].assign(m);
        this.v[i].assign(v);
      });
    });
  }

  /** The moments, first all m then all v, named after their variables (live tensors: do not dispose). */
  weights(): NamedTensor[] {
    return [
      ...this.m.map((tensor, i) => ({ name: `${this.variables[i].name}/m`, tensor })),
      ...this.v.map((tensor, i) => ({ name: `${this.variables[i].name}/v`, tensor })),
    ];
  }

  /** Restores moments saved by `weights()` and the step count saved beside them. */
  restore(weights: readonly NamedTensor[], step: number): void {
    const n = this.variables.length;
    if (weights.length !== 2 * n)
      throw new Error(`optimizer state holds ${weights.length} tensors, the model needs ${2 * n}`);
    [...this.m, ...this.v].forEach((target, i) => {
      if (!tf.util.arraysEqual(target.shape, weights[i].tensor.shape)) {
        throw new Error(
          `optimizer tensor ${weights[i].name} has shape [${weights[i].tensor.shape}], the model needs [${target.shape}]`,
        );
      }
      target.assign(weights[i].tensor);
    });
    this.step = step;
  }

  dispose(): void {
    tf.dispose([...this.m, ...this.v]);
  }
}
