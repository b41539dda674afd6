/**
 * fewshot-rkd as a library. The root holds everything; each concept is also a subpath of its own
 * (`fewshot-rkd/data`, `/episodes`, `/models`, `/losses`, `/train`, `/eval`, `/sweep`, `/report`).
 */
export { initBackend, describeBackend, ensureBackend, BACKEND_CHOICES } from './backend.js';
export type { BackendChoice, BackendInfo, BackendOptions } from './backend.js';
export * from './data/index.js';
export * from './episodes/index.js';
export * from './models/index.js';
export * from './losses/index.js';
export * from './train/index.js';
export * from './eval/index.js';
export * from './sweep/index.js';
export * from './report/index.js';
export { customGradient, stopGradient } from './ops/custom-gradient.js';
export type { CustomGradientResult, GradientsOf } from './ops/custom-gradient.js';
export { benchShape, BENCH_SHAPES } from './bench/bench.js';
export type { BenchShape, BenchResult } from './bench/bench.js';
export { codeVersion, provenance } from './provenance.js';
export type { Provenance } from './provenance.js';
