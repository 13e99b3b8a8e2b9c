// What the training loop and the gradient engines (replicas.ts) exchange, apart from both, so
// that neither imports the other for it.

/** One batch: inputs flattened row-major in the model's input layout (NHWC), labels per level. */
export interface Batch {
  x: Float32Array;
  labels: Int32Array[];
  n: number;
}
export type BatchSource = AsyncIterable<Batch> | Iterable<Batch>;
