// The `submission` stage kind: submission.csv (Id,Predicted) from the test split's saved top-5
// predictions, for a training run (after predict:test) and an ensemble (after blend:test) alike.
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
    // the npy readers and the CSV writer load when a submission is written, not when a plan is compiled
    const [{ writeSubmission }, { predictionsFix, readPredictionDir, readTop1 }] = await Promise.all([
      import('../eval/submission.ts'), import('../runs/read-predictions.ts'),
    ]);
    // read back through the validating reader: the set may be an ensemble's, or outlive a crash
    const { dir, json } = ctx.record;
    const set = readPredictionDir(ctx.record.predictionsDir('test', p.tta), { runDir: dir, fix: predictionsFix(dir, json.kind, 'test', p.tta), split: 'test', tta: p.tta });
    const { index } = set;
    const predicted = await readTop1(set);
    let expectedIds;
    if (p.expectAll) {
      const test = need(ctx.test, 'the test split');
      expectedIds = Array.from(test.rows, (r) => test.index.ids[r]);
    }
    writeSubmission(ctx.record.path('submission.csv'), { ids: index.ids, predicted, classIds: index.classes[index.levels[0]], expectedIds });
    return { summary: `${index.rows} rows` };
  },
};
