import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT, tempDir } from '../helpers/datasets.js';
import { generatePhantom } from '../../src/workbench/data/phantom.js';
import { CbirError } from '../../src/workbench/errors.js';
import { closest, editDistance } from '../../src/workbench/util/closest.js';
import { cbir } from '../helpers/cli.js';
import { CLI_HINTS, cliHintFor } from '../../src/cli/hints.js';
import { usageOptions } from '../../src/cli/options.js';

let tmp: { dir: string; cleanup: () => void };
let dataDir: string;

before(async () => {
  tmp = tempDir('cbir-options-');
  dataDir = join(tmp.dir, 'phantom');
  await generatePhantom({ out: dataDir, scale: 0.05, size: 32 });
});
after(() => tmp.cleanup());

test('editDistance counts insertions, deletions, substitutions and adjacent swaps', () => {
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('', 'abc'), 3);
  assert.equal(editDistance('abc', 'abc'), 0);
  assert.equal(editDistance('modle', 'model'), 1, 'a swap is one edit');
  assert.equal(editDistance('ca', 'abc'), 3, 'optimal string alignment: no edits inside a swapped pair');
  for (const [a, b] of [
    ['report', 'reprot'],
    ['hog4x4x9', 'hog4x4x8'],
    ['--models', '--modle'],
  ])
    assert.equal(editDistance(a, b), editDistance(b, a), 'symmetric');
});

test('closest: the near name, or null when nothing is near; case ignored', () => {
  const models = ['hist64', 'hog4x4x9', 'lbp4x4', 'tiny16', 'classic', 'tiny-vit'];
  assert.equal(closest('hog4x4x8', models), 'hog4x4x9');
  assert.equal(closest('HOG4X4X9', models), 'hog4x4x9');
  assert.equal(closest('clasic', models), 'classic');
  assert.equal(closest('resnet50', models), null);
  assert.equal(closest('x', []), null);
});

test('a mistyped option names the closest option of that command, with one prefix, exit 2', async () => {
  const cases: [string[], RegExp][] = [
    [
      ['report', '--modle', 'x'],
      /^cbir report: unknown option --modle\n {2}→ did you mean --model\? \(`cbir report --help` lists its options\)$/,
    ],
    [['report', '--dtaa', 'x'], /^cbir report: unknown option --dtaa\n {2}→ did you mean --data\?/],
    [['eval', '--models', 'x'], /^cbir eval: unknown option --models\n {2}→ did you mean --model\?/],
    [
      ['data', 'prepare', '--sorce', 'x'],
      /^cbir data: unknown option --sorce\n {2}→ did you mean --source\? \(`cbir data prepare --help`/,
    ],
    [
      ['embed', 'merge', '--froce'],
      /^cbir embed: unknown option --froce\n {2}→ did you mean --force\? \(`cbir embed merge --help`/,
    ],
    [['figures', '--report', 'r', '--no-grid'], /did you mean --no-grids\?/],
    [['start', '--no-prob'], /did you mean --no-probe\?/],
    // models.ts parses its options itself: the options of its usage text are the candidates
    [
      ['models', 'pull', 'resnet50', '--ulr', 'http://127.0.0.1:9/x'],
      /^cbir models: unknown option --ulr\n {2}→ did you mean --url\?/,
    ],
  ];
  for (const [argv, expected] of cases) {
    const r = await cbir(...argv);
    assert.equal(r.code, 2, `cbir ${argv.join(' ')}: ${r.err}`);
    assert.match(r.err, expected, `cbir ${argv.join(' ')}`);
  }
  const far = await cbir('figures', '--report', 'r', '--zzzzzz');
  assert.equal(far.code, 2);
  assert.doesNotMatch(far.err, /did you mean/);
  assert.match(far.err, /`cbir figures --help` lists its options: --report, --data, --png, --html,/);
});

test('usageOptions reads the --flags of a usage text once each', () => {
  assert.deepEqual(usageOptions('cbir models pull <id> [--url URL] [--dest FILE]\n  --url again, not-a--flag'), [
    '--url',
    '--dest',
  ]);
  assert.deepEqual(usageOptions(undefined), []);
});

test('an unknown model id: the core suggests the closest id, the CLI adds `cbir models list`', async () => {
  const r = await cbir('embed', '--data', dataDir, '--model', 'hog4x4x8', '--out', join(tmp.dir, 'e'), '--quiet');
  assert.equal(r.code, 1);
  const lines = r.err.split('\n');
  assert.match(lines[0], /^cbir embed: .*unknown model "hog4x4x8"; did you mean "hog4x4x9"\?$/);
  assert.match(lines[1], /^ {2}→ known models: .*hog4x4x9/);
  assert.equal(lines[2], '  → in the CLI: `cbir models list` shows them');
  const far = await cbir('embed', '--data', dataDir, '--model', 'no-such-model', '--out', join(tmp.dir, 'e'));
  assert.match(far.err, /unknown model "no-such-model"\n/, 'no suggestion when nothing is near');
});

test('missing required options: one "cbir <command>:" prefix per line, the usage line as hint', async () => {
  const cases: [string[], RegExp][] = [
    [
      ['report', '--models', 'classic'],
      /^cbir report: --data, --out and --models or --embeddings are required\n {2}→ usage: cbir report --data/,
    ],
    [
      ['eval', '--data', 'x'],
      /^cbir eval: --data, --out and one of --embeddings or --model are required\n {2}→ usage: cbir eval/,
    ],
    [['figures'], /^cbir figures: --report <dir> is required\n {2}→ usage: cbir figures --report <dir>/],
  ];
  for (const [argv, expected] of cases) {
    const r = await cbir(...argv);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, expected);
    for (const line of r.err.split('\n')) assert.doesNotMatch(line, /cbir \w+: cbir \w+/, `doubled prefix: ${line}`);
  }
  const data = await cbir('data', 'prepare', '--source', 'folder:path=x,dataset=d,modality=MR,region=brain');
  assert.doesNotMatch(data.err, /cbir data: cbir/);
});

test('CLI hints put a whole `cbir …` command, flags included, inside one pair of backticks', async () => {
  const weightsMissing = new CbirError('weights for model "biomedclip-vitb16" are not on this machine', {
    code: 'model/weights-missing',
    hint: 'download it',
  });
  assert.equal(
    cliHintFor('embed', weightsMissing),
    'run `cbir models pull biomedclip-vitb16` (`cbir models pull biomedclip-vitb16 --url <url>` when its card has no onnx.url), or check the --model path',
  );
  const lines = Object.values(CLI_HINTS).flatMap((h) => (typeof h === 'string' ? [h] : Object.values(h)));
  for (const line of lines) {
    assert.doesNotMatch(line, /`cbir [^`]*` (--|<)/, `a flag outside the backticks of its command: ${line}`);
    assert.equal((line.match(/`/g) ?? []).length % 2, 0, `unbalanced backticks: ${line}`);
  }
  // rendered by main under a real error, when this machine has no biomedclip weights
  const weights = [join(PROJECT_ROOT, 'models', 'weights', 'biomedclip-vitb16.onnx')];
  if (process.env.CBIR_MODELS) weights.push(join(process.env.CBIR_MODELS, 'biomedclip-vitb16.onnx'));
  if (weights.some((w) => existsSync(w))) return;
  const r = await cbir('embed', '--data', dataDir, '--model', 'biomedclip-vitb16', '--out', join(tmp.dir, 'b'));
  assert.equal(r.code, 1);
  assert.match(
    r.err,
    /\n {2}→ in the CLI: run `cbir models pull biomedclip-vitb16` \(`cbir models pull biomedclip-vitb16 --url <url>` when/,
  );
});
