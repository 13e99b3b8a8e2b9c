// The registry of launchers (see launcher.ts). Adding one is a module exporting a Launcher and a
// line here; `exp run --launcher <name>` and an unknown name's error list come from this table.
import { Registry } from '../../registry.ts';
import type { Launcher } from './launcher.ts';
import { local } from './local.ts';
import { slurmLauncher } from '../slurm/launcher.ts';

export const launchers = new Registry<Launcher>('launcher');
launchers.register('local', 'run the points in this process, one after another', local);
launchers.register('slurm', 'submit the pending points as one Slurm job array (sbatch --array); task n runs exp run --point <sweep>/n', slurmLauncher);
