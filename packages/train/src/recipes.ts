/**
 * Training recipes as data (DESIGN.md, "Training recipes"): a list of stages;
 * each stage names the variable groups it trains, its learning rate, and the
 * steps it alternates between. A step is a weighted sum of loss terms, each
 * looking at one decoding mode of the SAME y-hat (one analysis, one rate),
 * optionally balanced by normalised inverse loss.
 *
 * Term values: `rate` = estimated bpp; `mse` = 255²·MSE(x, x̂_mode);
 * `uaeo` = the UAEO privacy loss of x̂_mode; `naive` = mean cos(x̂_mode,
 * own caption); `semanticGlobal` = mean 1 − cos(target(x), target(x̂_mode));
 * `semanticInstances` = the same on a multi-scale grid of crops. A term's
 * factor is `weight` times the hyper-parameters named in `scale`.
 */
import { PsicError } from '@psic/entropy';

export type TrainableGroup = 'encoder' | 'entropy' | 'decoder' | 'adapter';
export type ObjectiveName = 'rate' | 'mse' | 'uaeo' | 'naive' | 'semanticGlobal' | 'semanticInstances';
export type HyperParameter = 'lambda' | 'lambdaClip' | 'lambdaInstance';

export interface LossTerm {
  objective: ObjectiveName;
  /** decoding mode the term looks at (every term but `rate`) */
  mode?: string;
  weight: number;
  scale?: HyperParameter[];
  /** terms of one group are summed before `balance` weighs the groups (default: each term its own group) */
  group?: string;
}

export interface StepSpec {
  terms: LossTerm[];
  /** 'sum' (default) adds the groups; 'inverse-loss' weighs group k by (1/|L_k|) / Σ_j (1/|L_j|), values detached */
  balance?: 'sum' | 'inverse-loss';
}

export interface Stage {
  name: string;
  /** share of the run's total steps (stages' shares sum to 1; `--stage-steps` overrides) */
  share: number;
  trainable: TrainableGroup[];
  /** learning rate: a number, or 'base' for the run's --lr */
  learningRate: number | 'base';
  /** steps cycle through these */
  alternation: StepSpec[];
  /** also train the entropy bottleneck's quantiles (needs the entropy group to move) */
  auxiliary: boolean;
}

export interface RecipeModes {
  name: string;
  default?: boolean;
  keyed?: boolean;
}

export interface Recipe {
  name: string;
  description: string;
  /** the decoding modes the adapter is built with */
  modes: RecipeModes[];
  stages: Stage[];
  /** defaults of the hyper-parameters the terms scale by (lambda comes from the run) */
  defaults: { lambdaClip: number; lambdaInstance: number };
  /**
   * Share of the default mode's samples decoded under a random wrong key's β
   * instead of the default β (recipes with a keyed mode), so that any wrong
   * key decodes like no key.
   */
  wrongKeyShare: number;
}

const FULL_RD = (mode: string, weight: number): LossTerm => ({ objective: 'mse', mode, weight, scale: ['lambda'] });

/** PSIC (paper section 3.4, the reference's weights). */
export const PSIC_RECIPE: Recipe = {
  name: 'psic',
  description: 'PSIC: protected by default (UAEO against the target), full with the key',
  modes: [{ name: 'protected', default: true }, { name: 'full', keyed: true }],
  stages: [
    {
      name: 'joint',
      share: 0.8,
      trainable: ['encoder', 'entropy', 'decoder', 'adapter'],
      learningRate: 'base',
      auxiliary: true,
      // bpp + ½(λ·255²·MSE_full + λ·255²·MSE_protected) + λ_clip·L_UAEO
      alternation: [{ terms: [{ objective: 'rate', weight: 1 }, FULL_RD('full', 0.5), FULL_RD('protected', 0.5), { objective: 'uaeo', mode: 'protected', weight: 1, scale: ['lambdaClip'] }] }],
    },
    {
      name: 'decoder',
      share: 0.2,
      trainable: ['decoder', 'adapter'],
      learningRate: 1e-5,
      auxiliary: false,
      // fidelity of the full decode vs privacy of the protected one, balanced by normalised inverse loss
      alternation: [
        {
          balance: 'inverse-loss',
          terms: [
            { ...FULL_RD('full', 1), group: 'fidelity' },
            { ...FULL_RD('protected', 1), group: 'privacy' },
            { objective: 'uaeo', mode: 'protected', weight: 1, scale: ['lambdaClip'], group: 'privacy' },
          ],
        },
      ],
    },
  ],
  defaults: { lambdaClip: 1, lambdaInstance: 0 },
  wrongKeyShare: 0.5,
};

/** The ablation: PSIC's recipe with UAEO replaced by the naive attack (minimise cos to the own caption). */
export const NAIVE_RECIPE: Recipe = {
  ...PSIC_RECIPE,
  name: 'naive',
  description: 'ablation: PSIC with the naive attack instead of UAEO',
  stages: PSIC_RECIPE.stages.map((stage) => ({
    ...stage,
    alternation: stage.alternation.map((step) => ({ ...step, terms: step.terms.map((t) => (t.objective === 'uaeo' ? { ...t, objective: 'naive' as const } : t)) })),
  })),
};

/** UG-ICM (AAAI 2025): human decode λ·MSE + R, machine decode kept close to the original in the target's embedding space. */
export const UGICM_RECIPE: Recipe = {
  name: 'ugicm',
  description: 'UG-ICM: human (pixel fidelity) by default, machine (semantics, global then + instance-wise) on request',
  modes: [{ name: 'human', default: true }, { name: 'machine' }],
  stages: [
    {
      name: 'global',
      share: 0.8,
      trainable: ['encoder', 'entropy', 'decoder', 'adapter'],
      learningRate: 'base',
      auxiliary: true,
      // λ·255²·MSE(human) + λ_clip·(1 − cos(target(x), target(x̂_machine))) + bpp
      alternation: [{ terms: [{ objective: 'rate', weight: 1 }, FULL_RD('human', 1), { objective: 'semanticGlobal', mode: 'machine', weight: 1, scale: ['lambdaClip'] }] }],
    },
    {
      name: 'instances',
      share: 0.2,
      trainable: ['encoder', 'entropy', 'decoder', 'adapter'],
      learningRate: 'base',
      auxiliary: true,
      alternation: [
        {
          terms: [
            { objective: 'rate', weight: 1 },
            FULL_RD('human', 1),
            { objective: 'semanticGlobal', mode: 'machine', weight: 1, scale: ['lambdaClip'] },
            { objective: 'semanticInstances', mode: 'machine', weight: 1, scale: ['lambdaInstance'] },
          ],
        },
      ],
    },
  ],
  defaults: { lambdaClip: 1, lambdaInstance: 1 },
  wrongKeyShare: 0,
};

/**
 * PSIC and UG-ICM in one model (the adapter takes any number of named modes):
 * protected by default, full with the owner's key, and a machine decode for
 * the key holder's vision tasks. The machine mode is keyed too: a keyless
 * machine decode would hand scrapers the semantics PSIC hides.
 */
export const PSIC_UGICM_RECIPE: Recipe = {
  name: 'psic-ugicm',
  description: 'PSIC + UG-ICM: protected by default; full and machine with the key',
  modes: [{ name: 'protected', default: true }, { name: 'full', keyed: true }, { name: 'machine', keyed: true }],
  stages: [
    {
      ...PSIC_RECIPE.stages[0],
      alternation: [{ terms: [...PSIC_RECIPE.stages[0].alternation[0].terms, { objective: 'semanticGlobal', mode: 'machine', weight: 1, scale: ['lambdaClip'] }] }],
    },
    {
      ...PSIC_RECIPE.stages[1],
      alternation: [
        {
          balance: 'inverse-loss',
          terms: [
            ...PSIC_RECIPE.stages[1].alternation[0].terms,
            { objective: 'semanticGlobal', mode: 'machine', weight: 1, scale: ['lambdaClip'], group: 'machine' },
            { objective: 'semanticInstances', mode: 'machine', weight: 1, scale: ['lambdaInstance'], group: 'machine' },
          ],
        },
      ],
    },
  ],
  defaults: { lambdaClip: 1, lambdaInstance: 1 },
  wrongKeyShare: PSIC_RECIPE.wrongKeyShare,
};

export const RECIPES: Readonly<Record<string, Recipe>> = Object.freeze({ psic: PSIC_RECIPE, naive: NAIVE_RECIPE, ugicm: UGICM_RECIPE, 'psic-ugicm': PSIC_UGICM_RECIPE });

export function getRecipe(name: string): Recipe {
  const recipe = RECIPES[name];
  if (!recipe) throw new PsicError('USAGE', `unknown recipe "${name}"; known: ${Object.keys(RECIPES).join(', ')}`);
  return recipe;
}

/** Does any step of the recipe need a semantic target (and captions)? */
export function recipeNeeds(recipe: Recipe): { target: boolean; captions: boolean; key: boolean } {
  const objectives = new Set(recipe.stages.flatMap((s) => s.alternation.flatMap((a) => a.terms.map((t) => t.objective))));
  return {
    target: ['uaeo', 'naive', 'semanticGlobal', 'semanticInstances'].some((o) => objectives.has(o as ObjectiveName)),
    captions: objectives.has('uaeo') || objectives.has('naive'),
    key: recipe.modes.some((m) => m.keyed),
  };
}

export interface StagePlanEntry {
  stage: Stage;
  index: number;
  /** first step (0-based count of steps done) of the stage */
  start: number;
  /** one past the last */
  end: number;
}

/** Stage boundaries for a run of `total` steps: from the shares, or explicit per-stage step counts. */
export function stagePlan(recipe: Recipe, total: number, stageSteps?: number[]): StagePlanEntry[] {
  let counts: number[];
  if (stageSteps) {
    if (stageSteps.length !== recipe.stages.length || stageSteps.some((n) => !Number.isInteger(n) || n < 0)) {
      throw new PsicError('USAGE', `recipe ${recipe.name} has ${recipe.stages.length} stages; give that many non-negative step counts`);
    }
    counts = stageSteps;
  } else {
    counts = recipe.stages.map((s) => Math.round(s.share * total));
    counts[counts.length - 1] = total - counts.slice(0, -1).reduce((a, b) => a + b, 0);
  }
  let start = 0;
  return recipe.stages.map((stage, index) => {
    const entry = { stage, index, start, end: start + counts[index] };
    start = entry.end;
    return entry;
  });
}

/** Validate a recipe's structure (a custom recipe is data from a user). */
export function validateRecipe(recipe: Recipe): void {
  const modes = new Set(recipe.modes.map((m) => m.name));
  if (recipe.stages.length === 0) throw new PsicError('BAD_RECIPE', `recipe ${recipe.name} has no stage`);
  for (const stage of recipe.stages) {
    if (stage.alternation.length === 0) throw new PsicError('BAD_RECIPE', `stage ${stage.name} alternates no step`);
    if (stage.trainable.length === 0) throw new PsicError('BAD_RECIPE', `stage ${stage.name} trains nothing`);
    for (const step of stage.alternation) {
      if (step.terms.length === 0) throw new PsicError('BAD_RECIPE', `a step of stage ${stage.name} has no term`);
      for (const t of step.terms) {
        if (t.objective !== 'rate' && (!t.mode || !modes.has(t.mode))) throw new PsicError('BAD_RECIPE', `term ${t.objective} of stage ${stage.name} names mode ${JSON.stringify(t.mode)}, not one of ${[...modes].join(', ')}`);
        if (!Number.isFinite(t.weight)) throw new PsicError('BAD_RECIPE', `term ${t.objective} of stage ${stage.name} has no finite weight`);
      }
    }
  }
}

/**
 * The recipe with `groups` trained by no stage (e.g. freeze the encoder and
 * entropy model so every mode decodes the plain codec's own bitstream). The
 * quantiles' auxiliary step goes with the entropy group.
 */
export function withFrozen(recipe: Recipe, groups: readonly TrainableGroup[]): Recipe {
  const frozen = new Set(groups);
  const stages = recipe.stages.map((stage) => {
    const trainable = stage.trainable.filter((g) => !frozen.has(g));
    if (trainable.length === 0) throw new PsicError('BAD_RECIPE', `freezing ${groups.join(', ')} leaves stage ${stage.name} of recipe ${recipe.name} nothing to train`);
    return { ...stage, trainable, auxiliary: stage.auxiliary && !frozen.has('entropy') };
  });
  return { ...recipe, stages };
}
