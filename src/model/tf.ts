// The one place that imports TensorFlow.js. Everything in src/model and src/train takes `tf` from
// here so the process holds a single tfjs instance (one engine, one kernel registry): a second copy
// would silently keep its own backends and our wasm gradient kernels would not apply to it.
// '@tensorflow/tfjs' bundles core, layers and the pure-JS cpu backend (the reference for tests).
import * as tf from '@tensorflow/tfjs';

// tfjs prints advice and warnings through console on its own (e.g. "install tfjs-node" on first
// use of cpu); in exp only src/cli prints. PROD only silences those messages.
tf.env().set('PROD', true);

export { tf };
export type Tensor = tf.Tensor;
export type Rank = tf.Rank;
