import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/datasets.js';
import { cbir } from '../helpers/cli.js';
import { makeDataset } from './fixtures.js';
import { shardFromEnv, CbirError } from '../../src/workbench/index.js';

// ---- the resolver, per scheduler -----------------------------------------------------------

const at = (env: Record<string, string>, shards?: number) => {
  const s = shardFromEnv(env, { shards });
  return `${s.scheduler} ${s.index}/${s.count}`;
};
const fails = (env: Record<string, string>, re: RegExp, shards?: number) =>
  assert.throws(
    () => shardFromEnv(env, { shards }),
    (e: unknown) => e instanceof CbirError && re.test(e.message) && /shard-env/.test(e.code ?? '') && !!e.hint,
    `${JSON.stringify(env)} should fail with ${re}`,
  );

test('SLURM: the task id relative to MIN, the count from COUNT or MIN/MAX', () => {
  assert.equal(at({ SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_COUNT: '4' }), 'slurm 2/4');
  const full = { SLURM_ARRAY_TASK_COUNT: '4', SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_MAX: '3' };
  assert.equal(at({ ...full, SLURM_ARRAY_TASK_ID: '0' }), 'slurm 0/4');
  // --array=1-4: ids 1..4 are shards 0..3
  const oneBased = { SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_MAX: '4' };
  assert.equal(at({ ...oneBased, SLURM_ARRAY_TASK_ID: '1' }), 'slurm 0/4');
  assert.equal(at({ ...oneBased, SLURM_ARRAY_TASK_ID: '4' }), 'slurm 3/4');
  assert.equal(at({ ...oneBased, SLURM_ARRAY_TASK_ID: '4', SLURM_ARRAY_TASK_COUNT: '4' }), 'slurm 3/4');
  // --array=10-16:2 → ids 10,12,14,16 are shards 0..3
  const stepped = { SLURM_ARRAY_TASK_MIN: '10', SLURM_ARRAY_TASK_MAX: '16', SLURM_ARRAY_TASK_STEP: '2' };
  assert.equal(at({ ...stepped, SLURM_ARRAY_TASK_ID: '14' }), 'slurm 2/4');
  assert.equal(at({ ...stepped, SLURM_ARRAY_TASK_ID: '14', SLURM_ARRAY_TASK_COUNT: '4' }, 4), 'slurm 2/4');
  // the source names the variables read
  assert.match(shardFromEnv({ ...oneBased, SLURM_ARRAY_TASK_ID: '3' }).source, /SLURM_ARRAY_TASK_ID=3.*MIN=1/);
});

test('SLURM: inconsistent or incomplete variables are refused, naming them', () => {
  fails(
    { SLURM_ARRAY_TASK_ID: '4', SLURM_ARRAY_TASK_COUNT: '4' },
    /index 4 is not below the 4 tasks.*SLURM_ARRAY_TASK_ID=4/,
  );
  // --array=0,1,5: COUNT 3 but MIN..MAX spans 6
  const gaps = { SLURM_ARRAY_TASK_COUNT: '3', SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_MAX: '5' };
  fails({ ...gaps, SLURM_ARRAY_TASK_ID: '5' }, /SLURM_ARRAY_TASK_COUNT=3 but MIN\.\.MAX .* holds 6 tasks/);
  fails({ SLURM_ARRAY_TASK_ID: '0', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_MAX: '4' }, /not on the array's range/);
  const stepped = { SLURM_ARRAY_TASK_MIN: '10', SLURM_ARRAY_TASK_MAX: '16', SLURM_ARRAY_TASK_STEP: '2' };
  fails({ ...stepped, SLURM_ARRAY_TASK_ID: '13' }, /not on the array's range/);
  fails({ SLURM_ARRAY_TASK_ID: '4', SLURM_ARRAY_TASK_MIN: '4', SLURM_ARRAY_TASK_MAX: '2' }, /MAX is below/);
  fails(
    { SLURM_ARRAY_TASK_ID: 'x', SLURM_ARRAY_TASK_COUNT: '4' },
    /SLURM_ARRAY_TASK_ID="x" is not a non-negative integer/,
  );
  fails({ SLURM_ARRAY_TASK_ID: '1' }, /SLURM_ARRAY_TASK_ID=1 gives this task's index but not how many/);
  assert.equal(at({ SLURM_ARRAY_TASK_ID: '1' }, 3), 'slurm 1/3');
  fails(
    { SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_COUNT: '4' },
    /3 shards were asked for, but the job array has 4/,
    3,
  );
});

test('LSF: 1-based LSB_JOBINDEX, count LSB_JOBINDEX_END', () => {
  assert.equal(at({ LSB_JOBINDEX: '1', LSB_JOBINDEX_END: '4' }), 'lsf 0/4');
  assert.equal(at({ LSB_JOBINDEX: '4', LSB_JOBINDEX_END: '4', LSB_JOBINDEX_STEP: '1' }), 'lsf 3/4');
  fails({ LSB_JOBINDEX: '5', LSB_JOBINDEX_END: '4' }, /LSB_JOBINDEX is above LSB_JOBINDEX_END/);
  fails({ LSB_JOBINDEX: '3', LSB_JOBINDEX_END: '7', LSB_JOBINDEX_STEP: '2' }, /LSB_JOBINDEX_STEP=2/);
  fails({ LSB_JOBINDEX: '2' }, /LSB_JOBINDEX=2 gives this task's index but not how many/);
  assert.equal(at({ LSB_JOBINDEX: '2' }, 4), 'lsf 1/4');
  // LSB_JOBINDEX=0 is what LSF sets outside an array
  fails({ LSB_JOBINDEX: '0' }, /no job-array task found.*LSB_JOBINDEX/);
});

test('PBS Pro, Torque and Kubernetes: a 0-based index, the count given', () => {
  assert.equal(at({ PBS_ARRAY_INDEX: '3' }, 4), 'pbs 3/4');
  assert.equal(at({ PBS_ARRAYID: '0' }, 4), 'pbs 0/4');
  assert.equal(at({ PBS_ARRAY_INDEX: '2', PBS_ARRAYID: '2' }, 4), 'pbs 2/4');
  fails({ PBS_ARRAY_INDEX: '2' }, /PBS_ARRAY_INDEX=2 gives this task's index but not how many/);
  fails({ PBS_ARRAYID: '4' }, /index 4 is not below the 4 tasks.*PBS_ARRAYID=4/, 4);
  fails({ PBS_ARRAY_INDEX: '1', PBS_ARRAYID: '2' }, /disagree.*PBS_ARRAY_INDEX=1, PBS_ARRAYID=2/, 4);
  assert.equal(at({ JOB_COMPLETION_INDEX: '1' }, 2), 'kubernetes 1/2');
  fails({ PBS_ARRAY_INDEX: '1' }, /must be an integer ≥ 1/, 0);
});

test('none set, or two schedulers at once: a clear error naming the variables', () => {
  fails({}, /none of SLURM_ARRAY_TASK_ID, LSB_JOBINDEX, PBS_ARRAY_INDEX, PBS_ARRAYID, JOB_COMPLETION_INDEX is set/);
  fails({ SLURM_ARRAY_TASK_ID: '' }, /no job-array task found/);
  fails(
    { SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_COUNT: '4', PBS_ARRAYID: '1' },
    /more than one scheduler.*SLURM_ARRAY_TASK_ID=1.*PBS_ARRAYID=1/,
  );
});

// ---- cbir embed --shard auto: an array of 4 tasks simulated through the environment ----------

let tmp: { dir: string; cleanup: () => void };
let dataDir: string;

before(async () => {
  tmp = tempDir('cbir-shard-auto-');
  await makeDataset(tmp.dir, { count: 14, size: 24, seed: 7 });
  dataDir = join(tmp.dir, 'data');
});
after(() => tmp.cleanup());

const ARRAY_VARS = ['SLURM_ARRAY_TASK_ID', 'SLURM_ARRAY_TASK_COUNT', 'SLURM_ARRAY_TASK_MIN', 'SLURM_ARRAY_TASK_MAX'];
const OTHER_VARS = ['LSB_JOBINDEX', 'LSB_JOBINDEX_END', 'PBS_ARRAY_INDEX', 'PBS_ARRAYID', 'JOB_COMPLETION_INDEX'];

/** Run `cbir <args>` with these environment variables set (and the other array variables unset). */
async function withEnv(env: Record<string, string>, ...args: string[]) {
  const saved = new Map([...ARRAY_VARS, ...OTHER_VARS].map((k) => [k, process.env[k]]));
  for (const k of saved.keys()) delete process.env[k];
  Object.assign(process.env, env);
  try {
    return await cbir(...args);
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

const embedArgs = (out: string, ...more: string[]) => [
  'embed',
  '--data',
  dataDir,
  '--model',
  'hog4x4x9',
  '--out',
  out,
  '--batch',
  '2',
  '--workers',
  '0',
  '--quiet',
  ...more,
];

test('cbir embed --shard auto: 4 SLURM tasks (--array=1-4), merged, are byte-identical to one run', async () => {
  const single = join(tmp.dir, 'single');
  const one = await withEnv({}, ...embedArgs(single));
  assert.equal(one.code, 0, one.err);
  const shards: string[] = [];
  for (const id of [4, 2, 1, 3]) {
    const out = join(tmp.dir, 'shards', String(id));
    const env = { SLURM_ARRAY_TASK_ID: String(id), SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_MAX: '4' };
    const r = await withEnv(env, ...embedArgs(out, '--shard', 'auto'));
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`shard ${id - 1}/4 from slurm \\(SLURM_ARRAY_TASK_ID=${id}`));
    assert.match(r.out, new RegExp(`\\(shard ${id - 1}/4\\)`));
    shards.push(out);
  }
  const merged = join(tmp.dir, 'merged');
  const m = await withEnv({}, 'embed', 'merge', '--out', merged, '--quiet', ...shards);
  assert.equal(m.code, 0, m.err);
  assert.match(m.out, /merged 4 shards .* 14 × 144/);
  for (const f of ['vectors.f32', 'ids.txt']) {
    const a = readFileSync(join(merged, f));
    assert.ok(a.length > 0, `${f} is empty`);
    assert.ok(a.equals(readFileSync(join(single, f))), `${f} of the merged shards differs from a single run's`);
  }
});

test('cbir embed --shard auto: PBS needs --shards; no array is a clear error', async () => {
  const out = join(tmp.dir, 'pbs');
  const none = await withEnv({}, ...embedArgs(out, '--shard', 'auto'));
  assert.equal(none.code, 1);
  assert.match(none.err, /no job-array task found in the environment: none of SLURM_ARRAY_TASK_ID/);
  assert.match(none.err, /in the CLI: .*sbatch --array=0-3/);
  const noCount = await withEnv({ PBS_ARRAY_INDEX: '1' }, ...embedArgs(out, '--shard', 'auto'));
  assert.equal(noCount.code, 1);
  assert.match(noCount.err, /PBS_ARRAY_INDEX=1 gives this task's index but not how many tasks/);
  const ok = await withEnv({ PBS_ARRAY_INDEX: '1' }, ...embedArgs(out, '--shard', 'auto', '--shards', '4'));
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, /shard 1\/4 from pbs/);
  const stray = await withEnv({}, ...embedArgs(join(tmp.dir, 'x'), '--shard', '1/4', '--shards', '4'));
  assert.equal(stray.code, 1);
  assert.match(stray.err, /--shards goes with --shard auto/);
});
