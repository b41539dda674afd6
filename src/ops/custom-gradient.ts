/**
 * `tf.customGrad` with types: tfjs types its function as taking `...args: Tensor[]` with the save
 * function last, which every caller had to cast. Here the inputs, the saved tensors and the
 * gradients are tuples the compiler checks.
 */
import * as tf from '@tensorflow/tfjs';

/** One gradient per input, in the inputs' order. */
export type GradientsOf<I extends readonly tf.Tensor[]> = { [K in keyof I]: tf.Tensor };

/** What the forward function returns: the op's value, and its gradient given dy and the saved tensors. */
export interface CustomGradientResult<
  T extends tf.Tensor,
  I extends readonly tf.Tensor[],
  S extends readonly tf.Tensor[],
> {
  readonly value: T;
  readonly gradFunc: (dy: T, saved: S) => GradientsOf<I>;
}

/**
 * An op with a hand-written gradient. `forward(inputs, save)` computes the value and saves what the
 * gradient needs (tensors saved are kept until the backward pass, also outside any tidy); the
 * gradient function runs outside any tidy, so it should wrap its work in one.
 *
 * @example
 * const square = customGradient(([x]: [tf.Tensor], save: (s: [tf.Tensor]) => void) => {
 *   save([x]);
 *   return { value: tf.square(x), gradFunc: (dy, [xs]) => [tf.mul(dy, tf.mul(2, xs))] };
 * });
 */
export function customGradient<I extends tf.Tensor[], T extends tf.Tensor, S extends tf.Tensor[] = []>(
  forward: (inputs: I, save: (tensors: S) => void) => CustomGradientResult<T, I, S>,
): (...inputs: I) => T {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const { value, gradFunc } = forward(args as I, (tensors) => save([...tensors]));
    return { value, gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => [...gradFunc(dy as T, saved as S)] };
  });
  return (...inputs: I) => op(...inputs) as T;
}

/** The identity with a zero gradient (tfjs 4 has no stopGradient op). */
export const stopGradient: <T extends tf.Tensor>(x: T) => T = customGradient(([x]: [tf.Tensor]) => ({
  value: tf.clone(x),
  gradFunc: (dy) => [tf.zerosLike(dy)],
})) as <T extends tf.Tensor>(x: T) => T;
