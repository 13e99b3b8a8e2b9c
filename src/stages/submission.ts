// The `submission` stage kind: submission.csv (Id,Predicted) from the test split's saved top-5
// predictions, for a training run (after predict:test) and an ensemble (after blend:test) alike.
import { join } from 'node:path';
import { NpyReader } from '../eval/npy.ts';
import { writeSubmission } from '../eval/submission.ts';
import { readJson } from '../util/fs.ts';
import type { PredictionIndex } from '../runs/schemas.ts';
import type { StageSpec } from '../plan/types.ts';
import { need, type StageContext, type StageKind, type Subset } from './context.ts';

export interface SubmissionParams {
  /** The TTA count of the predictions/test/tta<N>/ set to submit. */
  tta: number;
  /**
   * Every image of the test split must be predicted (data.on_bad_image: fail). Off where bad
   * images may have been skipped, and for ensembles, whose members were checked to agree.
   */
  expectAll: boolean;
}

/** Top-1 class ids of the target level from saved top-5 predictions. */
export async function readTop1(dir: string): Promise<{ index: PredictionIndex; predicted: Int32Array }> {
  const index = readJson<PredictionIndex>(join(dir, 'index.json'));
  const target = index.levels[0];
  const reader = await NpyReader.open(join(dir, `${target}.top5.npy`));
  try {
    const k = reader.shape[1] ?? 1;
    const top = (await reader.readRows(0, reader.shape[0])) as Int32Array;
    const predicted = Int32Array.from({ length: index.rows }, (_x, r) => top[r * k]);
    return { index, predicted };
  } finally {
    await reader.close();
  }
}

export function submissionStageFor(p: SubmissionParams, needs: string[]): StageSpec<'submission', SubmissionParams> {
  return { id: 'submission', kind: 'submission', title: 'Write submission.csv', needs, outputs: ['submission.csv'], cache: null, params: p };
}

export const submissionStage: StageKind<'submission', SubmissionParams, StageContext & { test?: Subset }> = {
  kind: 'submission',
  plan: (config, before) => {
    if (!config.outputs.submission || !before.some((s) => s.id === 'predict:test')) return [];
    return [submissionStageFor({ tta: config.tta.count, expectAll: config.data.on_bad_image === 'fail' }, ['predict:test'])];
  },

  async execute(p, ctx) {
    const { index, predicted } = await readTop1(ctx.record.predictionsDir('test', p.tta));
    let expectedIds;
    if (p.expectAll) {
      const test = need(ctx.test, 'the test split');
      expectedIds = Array.from(test.rows, (r) => test.index.ids[r]);
    }
    writeSubmission(ctx.record.path('submission.csv'), { ids: index.ids, predicted, classIds: index.classes[index.levels[0]], expectedIds });
    return { summary: `${index.rows} rows` };
  },
};
