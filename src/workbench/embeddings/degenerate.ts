import { CbirError } from '../errors.js';

/**
 * Degenerate embeddings, refused before they reach a store: a row holding NaN or ±Inf, a row of
 * (near) zero norm (it has no direction, so its cosine similarity is undefined; after "L2
 * normalisation" it stays zero), and a model that gives every image the same vector (all rows
 * within CONSTANT_TOL of the first, after L2 normalisation, although the images differ): its
 * retrieval would rank at random and score the majority-class share.
 */
/** ‖x‖₂ below this counts as zero norm. */
export const ZERO_NORM = 1e-12;
/** Rows whose L2-normalised values all lie within this of the first row's (max |u_rk − u_0k|) are "the same vector". */
export const CONSTANT_TOL = 1e-6;
/** Rows named in a message. */
const EXAMPLES = 3;

export type DegenerateKind = 'non-finite' | 'zero-norm' | 'constant';

export interface DegenerateFinding {
  kind: DegenerateKind;
  /** The first rows concerned (row numbers as given to `add`, 0-based). */
  rows: number[];
  /** How many rows are concerned. */
  count: number;
}

/** Accumulates the checks over row blocks (any number of `add` calls, in any row order). */
export class RowCheck {
  private readonly nonFinite: number[] = [];
  private nNonFinite = 0;
  private readonly zero: number[] = [];
  private nZero = 0;
  private ref: Float64Array | null = null;
  /** Row of the reference vector (the first valid row seen). */
  refRow = -1;
  /** Valid rows (finite, non-zero) seen, and whether all of them equal the reference. */
  valid = 0;
  allSame = true;
  /** Valid rows equal to the reference (the rows a constant-output finding is about). */
  private readonly same: number[] = [];

  constructor(readonly dim: number) {}

  /** Check `rows` (n × dim), whose first row is row `firstRow`. */
  add(rows: Float32Array, firstRow: number): void {
    const { dim } = this;
    const u = new Float64Array(dim);
    for (let r = 0, o = 0; o < rows.length; r++, o += dim) {
      let s = 0;
      let finite = true;
      for (let k = 0; k < dim; k++) {
        const v = rows[o + k];
        if (!Number.isFinite(v)) finite = false;
        s += v * v;
      }
      const row = firstRow + r;
      if (!finite) {
        if (this.nNonFinite++ < EXAMPLES) this.nonFinite.push(row);
        continue;
      }
      const norm = Math.sqrt(s);
      if (!(norm >= ZERO_NORM)) {
        if (this.nZero++ < EXAMPLES) this.zero.push(row);
        continue;
      }
      for (let k = 0; k < dim; k++) u[k] = rows[o + k] / norm;
      this.compare(u, row);
    }
  }

  private compare(u: Float64Array, row: number): void {
    this.valid++;
    if (!this.ref) {
      this.ref = Float64Array.from(u);
      this.refRow = row;
      this.same.push(row);
      return;
    }
    if (!this.allSame) return;
    for (let k = 0; k < this.dim; k++) {
      if (Math.abs(u[k] - this.ref[k]) > CONSTANT_TOL) {
        this.allSame = false;
        return;
      }
    }
    if (this.same.length < EXAMPLES) this.same.push(row);
  }

  /**
   * The first problem found, or null. `distinct` says whether the images behind the valid rows
   * differ (e.g. their content hashes are not all equal); only then is a constant output a problem.
   */
  finding(distinct: boolean): DegenerateFinding | null {
    if (this.nNonFinite > 0) return { kind: 'non-finite', rows: [...this.nonFinite], count: this.nNonFinite };
    if (this.nZero > 0) return { kind: 'zero-norm', rows: [...this.zero], count: this.nZero };
    if (this.allSame && this.valid >= 2 && distinct)
      return { kind: 'constant', rows: [...this.same], count: this.valid };
    return null;
  }
}

/**
 * The degenerate-output check of a block of embeddings (n × dim) on its own, e.g. for a model
 * check on a few distinct images: null when fine. `distinct`: whether the inputs differ (default true).
 */
export function checkEmbeddingRows(rows: Float32Array, dim: number, distinct = true): DegenerateFinding | null {
  const c = new RowCheck(dim);
  c.add(rows, 0);
  return c.finding(distinct);
}

/** How a finding's rows are named in an error: each row's label and file, the model or source and the error code prefix. */
export interface DegenerateContext {
  /** e.g. 'model "resnet50"' or 'the HDF5 files'. */
  source: string;
  label: (row: number) => string;
  file: (row: number) => string;
  /** 'embed', 'h5' or 'verify' (codes embed/zero-norm, h5/constant, …). */
  codePrefix: 'embed' | 'h5' | 'verify';
  /** What the rows are out of, e.g. "30 images" ("… for 2 of 30 images: …"). */
  total: string;
  /** Appended to the hint (e.g. what was kept). */
  note?: string;
}

/** Every code `degenerateError` throws, spelled out (the CLI's hints are checked against the core's codes). */
export const DEGENERATE_CODES: Record<DegenerateContext['codePrefix'], Record<DegenerateKind, string>> = {
  embed: { 'non-finite': 'embed/non-finite', 'zero-norm': 'embed/zero-norm', constant: 'embed/constant' },
  h5: { 'non-finite': 'h5/non-finite', 'zero-norm': 'h5/zero-norm', constant: 'h5/constant' },
  verify: { 'non-finite': 'verify/non-finite', 'zero-norm': 'verify/zero-norm', constant: 'verify/constant' },
};

/** The CbirError for a finding: what is wrong, the first rows and the count, and what to do. */
export function degenerateError(f: DegenerateFinding, ctx: DegenerateContext): CbirError {
  const shown = f.rows.map(ctx.label).join(', ');
  const more = f.count > f.rows.length ? ` and ${f.count - f.rows.length} more` : '';
  const note = ctx.note ? `; ${ctx.note}` : '';
  const msg =
    f.kind === 'non-finite'
      ? `embeddings with NaN or Inf from ${ctx.source} for ${f.count} of ${ctx.total}: ${shown}${more}`
      : f.kind === 'zero-norm'
        ? `zero-norm embeddings (no direction, so cosine similarity is undefined) from ${ctx.source} for ${f.count} of ${ctx.total}: ${shown}${more}`
        : `${ctx.source} gives the same embedding (to ${CONSTANT_TOL}) for all ${f.count} images although their contents differ (${shown}${more}); retrieval with it would be meaningless`;
  const hint =
    f.kind === 'constant'
      ? 'check the model: a constant output usually means a wrong output name or pooling in the model card, or weights that did not load'
      : f.kind === 'zero-norm'
        ? 'check the model (an all-zero output usually means a wrong output name or pooling in the model card) and these images (blank?); remove blank images from the manifest'
        : 'check these images (blank, corrupt or extreme values?) and the model; fix or remove them';
  return new CbirError(msg, {
    file: ctx.file(f.rows[0]),
    hint: hint + note,
    code: DEGENERATE_CODES[ctx.codePrefix][f.kind],
  });
}
