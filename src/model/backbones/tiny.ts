// A small conv-bn-relu stack for tests and the quickstart: 4 stride-2 3x3 convolutions.
import type { Backbone } from './types.ts';
import { NetBuilder } from '../layers/blocks.ts';

const CHANNELS = [16, 32, 48, 64];

function widths(width = 1): number[] {
  return CHANNELS.map((c) => Math.max(4, Math.round(c * width)));
}

export const tiny: Backbone = {
  name: 'tiny',
  description: 'four stride-2 conv3x3-bn-relu blocks (16-32-48-64 channels), ~47k parameters; for tests and quickstart',
  featureChannels: CHANNELS[CHANNELS.length - 1],
  // Its own definition: sum over blocks of 9*cin*cout (conv, no bias) + 2*cout (bn)
  // = (432+32) + (4608+64) + (13824+96) + (27648+128) = 46,832.
  referenceParams: 46_832,
  referenceSource: 'exp (src/model/backbones/tiny.ts), counted by hand',
  build(input, opts) {
    const b = new NetBuilder(opts.seed);
    let x = input;
    widths(opts.width).forEach((c, i) => {
      x = b.conv(x, `block${i}.conv`, { filters: c, kernel: 3, stride: 2 });
      x = b.bnAct(x, `block${i}.bn`, 'relu');
    });
    return x;
  },
};
