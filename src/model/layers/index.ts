// Custom layers of exp. Importing this module registers every custom class for serialisation,
// so a saved model that uses them loads back (tf.loadLayersModel needs the classes registered).
export { GroupConv2D, groupConv2d, convOutputLength } from './group-conv.ts';
export type { GroupConv2DArgs, Padding } from './group-conv.ts';
export { PaddedDepthwiseConv2D } from './depthwise.ts';
export type { PaddedDepthwiseConv2DArgs } from './depthwise.ts';
export { PaddedMaxPooling2D } from './max-pool.ts';
export { Relu6, Swish } from './swish.ts';
export { ResidualRelu } from './residual.ts';
export type { PaddedMaxPooling2DArgs, PoolPadding } from './max-pool.ts';
export { FreezableBatchNorm, batchNorm } from './batch-norm.ts';
export { NetBuilder, layerSeed } from './blocks.ts';
export type { Activation, ConvOpts } from './blocks.ts';
export { SeededDropout, setDropoutStep } from './dropout.ts';
