import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadCard, loadCards } from '../../src/workbench/models/cards.js';
import { CARDS_DIR } from '../../src/workbench/models/paths.js';
import { BUILTIN_CARDS } from '../../src/workbench/models/builtin/index.js';
import { CbirError } from '../../src/workbench/errors.js';
import { parseCsv } from '../../src/workbench/util/csv.js';
import { PROJECT_ROOT, tempDir } from '../helpers/datasets.js';

const STUDY_IDS = [
  'ark-swinb',
  'biomedclip-vitb16',
  'bmcclip-vitl14',
  'clip-vitl14',
  'dinov2-vitb14',
  'mae-vitb16',
  'medclip-swint',
  'medsam-vitb',
  'raddino-vitb14',
  'resnet50',
  'sam-vitb',
  'vit-b16',
];

test('the 12 study cards load and validate, with the documented decisions', () => {
  const cards = loadCards(CARDS_DIR);
  assert.deepEqual(
    cards.map((c) => c.id),
    STUDY_IDS,
  );
  const by = Object.fromEntries(cards.map((c) => [c.id, c]));
  for (const c of cards) {
    assert.equal(c.onnx.input, 'pixel_values', c.id);
    assert.equal(c.onnx.file, `${c.id}.onnx`, c.id);
    assert.ok(c.source.licence.length > 0 && c.source.checkpoint.length > 0, c.id);
    assert.ok((c.notes ?? []).length > 0, `${c.id} has notes`);
    assert.equal(c.builtin, undefined, c.id);
  }
  assert.equal(by['resnet50'].pooling, 'logits');
  assert.equal(by['resnet50'].dim, 1000);
  for (const id of ['sam-vitb', 'medsam-vitb']) {
    assert.equal(by[id].dim, 256);
    assert.equal(by[id].pooling, 'mean-spatial');
    assert.equal(by[id].preprocess.resize, 'longest-edge-pad');
    assert.deepEqual(by[id].preprocess.size, [1024, 1024]);
  }
  assert.deepEqual(by['raddino-vitb14'].preprocess.size, [518, 518]);
  assert.equal(by['clip-vitl14'].dim, 768);
  assert.equal(by['clip-vitl14'].pooling, 'projected');
  assert.ok(by['mae-vitb16'].notes!.some((n) => /mask_ratio 0/.test(n) && /departs from the study/.test(n)));
});

const table2 = resolve(PROJECT_ROOT, '../shared/study/table2_models.csv');
test(
  'study names and input sizes agree with Table 2',
  { skip: existsSync(table2) ? false : `${table2} not present` },
  () => {
    const rows = [...parseCsv(readFileSync(table2, 'utf8'))].map((r) => r.cells);
    const header = rows[0];
    const col = (name: string) => header.indexOf(name);
    const cards = loadCards(CARDS_DIR);
    for (const r of rows.slice(1)) {
      if (r.length < 2) continue;
      const card = cards.find((c) => c.studyName === r[col('model')]);
      assert.ok(card, `a card for Table 2 model ${r[col('model')]}`);
      assert.equal(card!.preprocess.size[0], Number(r[col('input_size')]), `${card!.id} input size`);
    }
  },
);

test('built-in cards pass the same validator', () => {
  const { dir, cleanup } = tempDir();
  try {
    for (const c of BUILTIN_CARDS) {
      const f = join(dir, `${c.id}.json`);
      writeFileSync(f, JSON.stringify(c, null, 2));
      assert.equal(loadCard(f).id, c.id);
    }
  } finally {
    cleanup();
  }
});

test('card errors name the file, the field and its line', () => {
  const { dir, cleanup } = tempDir();
  const good = JSON.parse(readFileSync(join(CARDS_DIR, 'vit-b16.json'), 'utf8'));
  try {
    const check = (name: string, mutate: (c: any) => void, field: RegExp, hint: RegExp) => {
      const c = structuredClone(good);
      mutate(c);
      const f = join(dir, 'vit-b16.json');
      const text = JSON.stringify(c, null, 2);
      writeFileSync(f, text);
      assert.throws(
        () => loadCard(f),
        (e: unknown) => {
          assert.ok(e instanceof CbirError, name);
          assert.equal(e.file, f, name);
          assert.match(e.message, field, name);
          assert.match(e.hint ?? '', hint, name);
          assert.ok(typeof e.row === 'number' && e.row >= 1, `${name}: has a line`);
          return true;
        },
      );
    };
    check(
      'missing dim',
      (c) => {
        delete c.dim;
      },
      /"dim" is missing/,
      /integer/,
    );
    check(
      'mean of 2',
      (c) => {
        c.preprocess.mean = [0.5, 0.5];
      },
      /"preprocess\.mean" must be a list of 3/,
      /\[r, g, b\]/,
    );
    check(
      'std 0',
      (c) => {
        c.preprocess.std = [0.5, 0, 0.5];
      },
      /"preprocess\.std\.1" is 0/,
      /> 0/,
    );
    check(
      'pooling',
      (c) => {
        c.pooling = 'max';
      },
      /"pooling" is "max"/,
      /"cls-token"/,
    );
    check(
      'unknown field',
      (c) => {
        c.poolng = 'cls-token';
      },
      /"poolng" is not a known field/,
      /spelling/,
    );
    check(
      'unknown nested field',
      (c) => {
        c.onnx.outputs = 'x';
      },
      /"onnx\.outputs" is not a known field/,
      /known fields of "onnx"/,
    );
    check(
      'sha256',
      (c) => {
        c.onnx.sha256 = 'abc';
      },
      /"onnx\.sha256" is "abc"/,
      /64 lower-case hex/,
    );
    check(
      'onnx file path',
      (c) => {
        c.onnx.file = '../x.onnx';
      },
      /"onnx\.file"/,
      /no folders/,
    );
    check(
      'crop with shortest-edge',
      (c) => {
        c.preprocess.resize = 'shortest-edge';
      },
      /"preprocess\.crop" must be "center"/,
      /"crop": "center"/,
    );
    check(
      'resizeTo below the crop',
      (c) => {
        Object.assign(c.preprocess, { resize: 'shortest-edge', crop: 'center', resizeTo: 200 });
      },
      /"preprocess\.resizeTo" is 200/,
      /≥ 224/,
    );
    check(
      'prefixTokens with cls-token',
      (c) => {
        c.onnx.prefixTokens = 1;
      },
      /"onnx\.prefixTokens" only applies/,
      /pooling/,
    );
    check(
      'interpolation',
      (c) => {
        c.preprocess.interpolation = 'area';
      },
      /"preprocess\.interpolation"/,
      /"bicubic"/,
    );
    check(
      'size',
      (c) => {
        c.preprocess.size = [224];
      },
      /"preprocess\.size" must be \[height, width\]/,
      /\[224, 224\]/,
    );
    // the line points at the field
    const c = structuredClone(good);
    c.dim = -3;
    const f = join(dir, 'vit-b16.json');
    const text = JSON.stringify(c, null, 2);
    writeFileSync(f, text);
    const line = text.split('\n').findIndex((l) => l.includes('"dim"')) + 1;
    assert.throws(
      () => loadCard(f),
      (e: unknown) => (e as CbirError).row === line && /"dim" is -3/.test((e as Error).message),
    );
    // an id that differs from the file name
    const g = structuredClone(good);
    g.id = 'vit-b32';
    writeFileSync(f, JSON.stringify(g, null, 2));
    assert.throws(() => loadCard(f), /"id" is "vit-b32" but the file is named vit-b16\.json/);
    // invalid JSON gives the line of the syntax error
    writeFileSync(f, '{\n  "id": "vit-b16",\n  "name": oops\n}');
    assert.throws(
      () => loadCard(f),
      (e: unknown) => e instanceof CbirError && e.row === 3 && /not valid JSON/.test(e.message),
    );
    assert.throws(() => loadCard(join(dir, 'missing.json')), /cannot read model card/);
  } finally {
    cleanup();
  }
});
