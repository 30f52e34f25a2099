import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  parseSourceSpec,
  loadRecipe,
  expandVars,
  datasetsDir,
  checkRatios,
  PROJECT_ROOT,
} from '../../src/workbench/data/sources.js';
import { CbirError } from '../../src/workbench/errors.js';
import { tempDir } from '../helpers/datasets.js';

test('parseSourceSpec: CLI string form, with commas inside the group regex and a labels map', () => {
  const s = parseSourceSpec(
    'csv:path=data/head,images=head_ct,csv=labels.csv,labels=0:normal;1:hemorrhage,dataset=ct-head,modality=CT,region=head,group=^(\\d{1,3})_,normal=normal',
    '/base',
  );
  assert.equal(s.type, 'csv');
  assert.equal(s.path, '/base/data/head');
  assert.equal(s.images, 'head_ct');
  assert.deepEqual(s.labels, { 0: 'normal', 1: 'hemorrhage' });
  assert.equal(s.group, '^(\\d{1,3})_');
  assert.equal(s.normal, 'normal');
  assert.equal(s.modality, 'CT');
});

test('parseSourceSpec: JSON form and window', () => {
  const s = parseSourceSpec(
    '{"type":"dicom","path":"/abs/ct","dataset":"ct","modality":"CT","region":"head","window":{"center":40,"width":400},"key":"sop","csv":"l.csv"}',
  );
  assert.equal(s.path, '/abs/ct');
  assert.deepEqual(s.window, { center: 40, width: 400 });
  assert.equal(s.key, 'sop');
  assert.deepEqual(parseSourceSpec('dicom:path=x,dataset=d,modality=CT,region=head,window=40:400').window, {
    center: 40,
    width: 400,
  });
});

test('parseSourceSpec: clear errors for a typo, a missing field and a bad type', () => {
  assert.throws(
    () => parseSourceSpec('folder:path=x,dataset=d,modality=MR,regoin=brain'),
    (e: unknown) => {
      assert.ok(e instanceof CbirError);
      assert.match(e.message, /^--source: unknown key "regoin"/);
      assert.match(e.message, /known keys: type, path, dataset/);
      return true;
    },
  );
  assert.throws(() => parseSourceSpec('folder:path=x,dataset=d,modality=MR'), /--source: the source has no "region"/);
  assert.throws(
    () => parseSourceSpec('zip:path=x,dataset=d,modality=MR,region=b'),
    /--source: unknown source type "zip"/,
  );
  assert.throws(() => parseSourceSpec('folder:path=x,dataset=a/b,modality=MR,region=b'), /dataset name "a\/b"/);
  assert.throws(
    () => parseSourceSpec('folder:path=x,dataset=d,modality=MR,region=b,group=(['),
    /group regex .* is invalid/,
  );
});

test('expandVars: ${CBIR_DATASETS} defaults to ../shared/datasets from the project root; unset variables fail', () => {
  assert.equal(expandVars('${CBIR_DATASETS}/mr', {}), resolve(PROJECT_ROOT, '../shared/datasets') + '/mr');
  assert.equal(expandVars('${CBIR_DATASETS}/mr', { CBIR_DATASETS: '/data' }), '/data/mr');
  assert.equal(datasetsDir({ CBIR_DATASETS: 'rel' }), resolve(PROJECT_ROOT, 'rel'));
  assert.throws(
    () => expandVars('${NOPE_X}/a', {}, { file: 'r.json', row: 3 }),
    /r\.json:3: environment variable NOPE_X is not set/,
  );
});

test('loadRecipe: expands ${CBIR_DATASETS}, resolves relative paths against the recipe folder, names the line of a bad source', () => {
  const { dir, cleanup } = tempDir();
  try {
    mkdirSync(join(dir, 'recipes'));
    const file = join(dir, 'recipes', 'r.json');
    writeFileSync(
      file,
      JSON.stringify(
        {
          name: 'two',
          seed: 7,
          ratios: [7, 1, 2],
          _comment: 'ignored',
          sources: [
            { type: 'folder', path: '${CBIR_DATASETS}/mr', dataset: 'mr', modality: 'MR', region: 'brain', _note: 'x' },
            { type: 'folder', path: '../local/us', dataset: 'us', modality: 'US', region: 'breast' },
          ],
        },
        null,
        2,
      ),
    );
    const r = loadRecipe(file, { CBIR_DATASETS: '/data/sets' });
    assert.equal(r.name, 'two');
    assert.equal(r.seed, 7);
    assert.deepEqual(r.ratios, [0.7, 0.1, 0.2]);
    assert.equal(r.sources[0].path, '/data/sets/mr');
    assert.equal(r.sources[1].path, join(dir, 'local', 'us'));

    writeFileSync(
      file,
      '{\n  "sources": [\n    {"type": "folder", "path": "a", "dataset": "ok", "modality": "MR", "region": "brain"},\n    {"type": "folder", "path": "b",\n     "dataset": "bad", "modality": "MR"}\n  ]\n}\n',
    );
    assert.throws(
      () => loadRecipe(file),
      (e: unknown) => {
        assert.ok(e instanceof CbirError);
        assert.equal(e.row, 5);
        assert.match(e.message, /r\.json:5: sources\[1\]: the source has no "region"/);
        return true;
      },
    );
    writeFileSync(file, '{"sources": []}');
    assert.throws(() => loadRecipe(file), /needs a non-empty "sources" array/);
    writeFileSync(file, '{"sources": [], }');
    assert.throws(() => loadRecipe(file), /recipe is not valid JSON/);
  } finally {
    cleanup();
  }
});

test('checkRatios: normalises and rejects bad input', () => {
  assert.deepEqual(checkRatios('0.7,0.1,0.2'), [0.7, 0.1, 0.2].map((x) => x / 1) as [number, number, number]);
  assert.throws(() => checkRatios('0.7,0.3'), /must be three non-negative numbers/);
  assert.throws(() => checkRatios([1, -1, 1], { file: '--ratios' }), /--ratios: split ratios/);
});

test('loadRecipe: "relevance" is kept as given (it becomes relevance.json); anything but an object is refused with its line', () => {
  const r5 = loadRecipe(join(PROJECT_ROOT, 'data-splits', 'radiology5.json'), { CBIR_DATASETS: '/data/sets' });
  assert.deepEqual((r5.relevance as { ordinal: unknown }).ordinal, { 'US/breast': ['normal', 'benign', 'malignant'] });
  const { dir, cleanup } = tempDir();
  try {
    const file = join(dir, 'r.json');
    writeFileSync(
      file,
      '{\n  "relevance": ["XR/knee"],\n  "sources": [{"type": "folder", "path": "a", "dataset": "a", "modality": "XR", "region": "knee"}]\n}\n',
    );
    assert.throws(
      () => loadRecipe(file),
      (e: unknown) => e instanceof CbirError && e.code === 'recipe/bad-relevance' && e.row === 2,
    );
  } finally {
    cleanup();
  }
});
