/**
 * `--shard auto`: which shard of a job array this process is, read from the scheduler's
 * environment. Pure: it takes an env object (process.env in the CLI), so every scheduler's
 * variables can be tested without one.
 *
 *   SLURM       SLURM_ARRAY_TASK_ID, relative to SLURM_ARRAY_TASK_MIN (0 when absent), divided by
 *               SLURM_ARRAY_TASK_STEP (1 when absent); the count is SLURM_ARRAY_TASK_COUNT, or
 *               (MAX − MIN) / STEP + 1 from SLURM_ARRAY_TASK_MIN/MAX when COUNT is absent
 *   LSF         LSB_JOBINDEX (1-based: bsub -J "name[1-N]"), count LSB_JOBINDEX_END
 *   PBS/Torque  PBS_ARRAY_INDEX (PBS Pro, qsub -J 0-N-1) or PBS_ARRAYID (Torque, qsub -t 0-N-1),
 *               0-based; neither says how many tasks there are, so the count must be given (`shards`)
 *   Kubernetes  JOB_COMPLETION_INDEX (Indexed Jobs), 0-based; the count must be given (`shards`)
 *
 * A given `shards` must agree with the count a scheduler reports.
 */
import { CbirError } from '../errors.js';

export type Scheduler = 'slurm' | 'lsf' | 'pbs' | 'kubernetes';

/** A shard resolved from the environment, with the variables it came from. */
export interface EnvShard {
  index: number;
  count: number;
  scheduler: Scheduler;
  /** The variables read, as NAME=value, comma-separated (for logs and error messages). */
  source: string;
}

export type ShardEnv = Readonly<Record<string, string | undefined>>;

/** The variables that mark a job-array task, per scheduler (the first one found decides). */
export const SHARD_ENV_VARS: Readonly<Record<Scheduler, readonly string[]>> = {
  slurm: ['SLURM_ARRAY_TASK_ID'],
  lsf: ['LSB_JOBINDEX'],
  pbs: ['PBS_ARRAY_INDEX', 'PBS_ARRAYID'],
  kubernetes: ['JOB_COMPLETION_INDEX'],
};

const CODE = 'embed/bad-shard-env';
const SLURM_VARS = [
  'SLURM_ARRAY_TASK_ID',
  'SLURM_ARRAY_TASK_COUNT',
  'SLURM_ARRAY_TASK_MIN',
  'SLURM_ARRAY_TASK_MAX',
  'SLURM_ARRAY_TASK_STEP',
];
const LSF_VARS = ['LSB_JOBINDEX', 'LSB_JOBINDEX_END', 'LSB_JOBINDEX_STEP'];

function bad(message: string, hint: string): CbirError {
  return new CbirError(message, { hint, code: CODE });
}

/** A non-negative integer variable, or undefined when unset or empty. */
function intVar(env: ShardEnv, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v.trim() === '') return undefined;
  if (!/^\d+$/.test(v.trim())) throw bad(`${name}="${v}" is not a non-negative integer`, `check how ${name} is set`);
  return Number(v.trim());
}

function describe(env: ShardEnv, names: readonly string[]): string {
  return names
    .filter((n) => env[n] !== undefined && env[n] !== '')
    .map((n) => `${n}=${env[n]}`)
    .join(', ');
}

/** SLURM: the task id relative to MIN in steps of STEP; the count from COUNT or MIN/MAX. */
function slurm(env: ShardEnv): { index: number; count: number | undefined; range: string } {
  const id = intVar(env, 'SLURM_ARRAY_TASK_ID')!;
  const min = intVar(env, 'SLURM_ARRAY_TASK_MIN');
  const max = intVar(env, 'SLURM_ARRAY_TASK_MAX');
  const step = intVar(env, 'SLURM_ARRAY_TASK_STEP') ?? 1;
  const count = intVar(env, 'SLURM_ARRAY_TASK_COUNT');
  const here = describe(env, SLURM_VARS);
  const hint = 'submit the array as a contiguous range, e.g. `sbatch --array=0-3`, or give the shard explicitly (i/n)';
  if (step < 1) throw bad(`SLURM_ARRAY_TASK_STEP=${step} must be ≥ 1 (${here})`, hint);
  const base = min ?? 0;
  if (id < base || (id - base) % step !== 0)
    throw bad(`SLURM_ARRAY_TASK_ID is not on the array's range (${here})`, hint);
  const index = (id - base) / step;
  let ranged: number | undefined;
  if (min !== undefined && max !== undefined) {
    if (max < min) throw bad(`SLURM_ARRAY_TASK_MAX is below SLURM_ARRAY_TASK_MIN (${here})`, hint);
    ranged = Math.floor((max - min) / step) + 1;
  }
  if (count !== undefined && ranged !== undefined && count !== ranged) {
    const msg = `SLURM_ARRAY_TASK_COUNT=${count} but MIN..MAX in steps of ${step} holds ${ranged} tasks (${here}): an array with gaps (e.g. sbatch --array=0,1,5) cannot be sharded automatically`;
    throw bad(msg, hint);
  }
  return { index, count: count ?? ranged, range: here };
}

/** LSF: 1-based LSB_JOBINDEX, count LSB_JOBINDEX_END (the array must be [1-N], step 1). */
function lsf(env: ShardEnv): { index: number; count: number | undefined; range: string } {
  const id = intVar(env, 'LSB_JOBINDEX')!;
  const end = intVar(env, 'LSB_JOBINDEX_END');
  const step = intVar(env, 'LSB_JOBINDEX_STEP') ?? 1;
  const here = describe(env, LSF_VARS);
  const hint = 'submit the array as `bsub -J "name[1-N]"` (from 1, step 1), or give the shard explicitly (i/n)';
  if (step !== 1) throw bad(`LSB_JOBINDEX_STEP=${step}: only arrays in steps of 1 can be sharded (${here})`, hint);
  if (end !== undefined && id > end) throw bad(`LSB_JOBINDEX is above LSB_JOBINDEX_END (${here})`, hint);
  return { index: id - 1, count: end, range: here };
}

/** The schedulers whose array-index variable is set (LSF's LSB_JOBINDEX=0 means "not an array"). */
function present(env: ShardEnv): Scheduler[] {
  const set = (n: string) => env[n] !== undefined && env[n]!.trim() !== '';
  return (Object.keys(SHARD_ENV_VARS) as Scheduler[]).filter((s) =>
    SHARD_ENV_VARS[s].some((n) => set(n) && !(n === 'LSB_JOBINDEX' && env[n]!.trim() === '0')),
  );
}

/** PBS Pro / Torque / Kubernetes: a 0-based index and no count variable. */
function zeroBased(env: ShardEnv, s: 'pbs' | 'kubernetes'): { index: number; count: undefined; range: string } {
  const names = SHARD_ENV_VARS[s].filter((n) => env[n] !== undefined && env[n]!.trim() !== '');
  const values = names.map((n) => intVar(env, n)!);
  const here = describe(env, names);
  if (new Set(values).size > 1) throw bad(`the array index variables disagree (${here})`, 'unset the stale one');
  return { index: values[0], count: undefined, range: here };
}

/**
 * The shard (0-based index of count) of this job-array task, from `env`. `shards` is the number
 * of tasks when the scheduler does not say (PBS, Kubernetes), and a cross-check when it does.
 */
export function shardFromEnv(env: ShardEnv, opts: { shards?: number } = {}): EnvShard {
  const found = present(env);
  if (found.length === 0) {
    const names = Object.values(SHARD_ENV_VARS).flat().join(', ');
    throw new CbirError(`no job-array task found in the environment: none of ${names} is set`, {
      hint: 'run this inside a job-array task (e.g. `sbatch --array=0-3`), or give the shard explicitly (i/n)',
      code: 'embed/no-shard-env',
    });
  }
  if (found.length > 1) {
    const here = found.map((s) => describe(env, SHARD_ENV_VARS[s])).join('; ');
    throw bad(`job-array variables of more than one scheduler are set (${here})`, 'unset the stale ones');
  }
  const scheduler = found[0];
  const r = scheduler === 'slurm' ? slurm(env) : scheduler === 'lsf' ? lsf(env) : zeroBased(env, scheduler);
  const { shards } = opts;
  if (shards !== undefined && !(Number.isInteger(shards) && shards >= 1))
    throw bad(`the number of shards must be an integer ≥ 1, got ${shards}`, 'e.g. 4 for an array of 4 tasks');
  if (r.count !== undefined && shards !== undefined && r.count !== shards)
    throw bad(
      `${shards} shards were asked for, but the job array has ${r.count} tasks (${r.range})`,
      'give the array size',
    );
  const count = r.count ?? shards;
  if (count === undefined) {
    const msg = `${r.range} gives this task's index but not how many tasks the array has`;
    throw bad(msg, 'give the number of tasks in the array');
  }
  if (r.index >= count)
    throw bad(
      `task index ${r.index} is not below the ${count} tasks of the array (${r.range})`,
      scheduler === 'lsf' ? 'LSF arrays count from 1: `bsub -J "name[1-N]"`' : 'array indices count from 0: 0..N-1',
    );
  return { index: r.index, count, scheduler, source: r.range };
}
