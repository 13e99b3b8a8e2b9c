// Opening a run's checkpoint for the train (resume) and predict stages. Its state.json is
// validated first (runs/read.ts), and a model the loader cannot read (a damaged model.json or a
// short weights.bin) is a located UserError naming the checkpoint, never an internal error.
import { ExpError } from '../errors.ts';
import { FIX, readCheckpointState } from '../runs/read.ts';
import { RecordFileError } from '../runs/read-file.ts';
import type { LoadedCheckpoint } from '../train/checkpoint.ts';

export async function openCheckpoint<S>(dir: string): Promise<LoadedCheckpoint<S>> {
  readCheckpointState(dir);
  const { loadCheckpoint } = await import('../train/checkpoint.ts');
  try {
    return await loadCheckpoint<S>(dir);
  } catch (e) {
    if (e instanceof ExpError) throw e;
    throw new RecordFileError(dir, `its model cannot be read (${e instanceof Error ? e.message : String(e)})`, FIX.checkpoint(dir));
  }
}
