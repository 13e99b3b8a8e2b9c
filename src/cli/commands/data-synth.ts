// exp data synth <out>: a herbarium-like dataset in the Herbarium 2020 layout (train/ and test/).
import { synthDataset, SAMPLE_OPTIONS } from '../../data/synth.ts';
import type { Opts } from '../commands.ts';

export async function run([out]: string[], opts: Opts<'data synth'>): Promise<number> {
  const { species, seed, size } = opts;
  const options = {
    ...SAMPLE_OPTIONS,
    species,
    genera: Math.max(1, Math.min(species, Math.round(species / 2))),
    families: Math.max(1, Math.min(Math.round(species / 2), Math.round(species / 4))),
    seed,
    size,
  };
  const s = await synthDataset(out, options);
  process.stdout.write(
    `wrote ${out}: ${s.train} train and ${s.test} test images, ${s.species} species in ${s.genera} genera in ${s.families} families\n`,
  );
  return 0;
}
