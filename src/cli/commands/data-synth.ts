// exp data synth <out>: a herbarium-like dataset in the Herbarium 2020 layout (train/ and test/).
import { synthDataset, SAMPLE_OPTIONS } from '../../data/synth.ts';
import { UserError } from '../../errors.ts';

function int(name: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UserError(`--${name} ${v}: expected a whole number >= ${min}`);
  return n;
}

export async function run([out]: string[], opts: { species?: string; seed?: string; size?: string }): Promise<number> {
  const species = int('species', opts.species, 1) ?? SAMPLE_OPTIONS.species;
  const options = {
    ...SAMPLE_OPTIONS,
    species,
    genera: Math.max(1, Math.min(species, Math.round(species / 2))),
    families: Math.max(1, Math.min(Math.round(species / 2), Math.round(species / 4))),
    seed: int('seed', opts.seed, 0) ?? SAMPLE_OPTIONS.seed,
    size: int('size', opts.size, 16) ?? SAMPLE_OPTIONS.size,
  };
  const s = await synthDataset(out, options);
  process.stdout.write(
    `wrote ${out}: ${s.train} train and ${s.test} test images, ${s.species} species in ${s.genera} genera in ${s.families} families\n`,
  );
  return 0;
}
