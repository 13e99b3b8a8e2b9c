// The weight-name table every registered backbone carries (its `weightNames`, in
// <backbone>.weights.ts beside the builder): what `exp weights import` needs to map a PyTorch
// checkpoint of the backbone's reference definition onto exp's layers.

/**
 * How a backbone's reference PyTorch definition names its modules, relative to exp's layer
 * names. exp's backbones name their layers like the reference modules, so most tables only
 * declare the classifier; `toLayer` covers a second naming of the same architecture.
 */
export interface WeightNames {
  /** the reference definition(s), for messages and the README */
  reference: string;
  /** torch module names of the classifier (not imported unless asked), in the reference naming */
  head: string[];
  /** the tfjs layer name for the imported classifier (Dense after global average pooling) */
  headLayer: string;
  /** torch module name -> exp layer name; return the input when the names agree */
  toLayer?(module: string): string;
}
