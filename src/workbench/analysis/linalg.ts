/**
 * Small dense linear algebra on Float64Array tiles for PCA and the exact k-NN of t-SNE:
 * a register-blocked A·Bᵀ kernel (both operands row-major along the shared dimension),
 * modified Gram–Schmidt and a cyclic Jacobi eigensolver for small symmetric matrices.
 * Everything is sequential and runs in a fixed order, so results are bit-reproducible.
 */

/**
 * C[i·ldc + j] (+)= Σ_r A[aOff + i·lda + r] · B[bOff + j·ldb + r] for i < m, j < nn, r < kk
 * (C = A·Bᵀ). `accumulate` adds to C instead of overwriting it. 4×4 register blocks.
 */
// why: an unrolled 4×4 register-blocked micro-kernel (PCA and exact k-NN); split, its 16 accumulators would not stay in registers
export function gemmNT(
  A: Float64Array,
  aOff: number,
  lda: number,
  B: Float64Array,
  bOff: number,
  ldb: number,
  C: Float64Array,
  cOff: number,
  ldc: number,
  m: number,
  nn: number,
  kk: number,
  accumulate = false,
): void {
  const m4 = m - (m % 4);
  const n4 = nn - (nn % 4);
  for (let i = 0; i < m4; i += 4) {
    const a0 = aOff + i * lda,
      a1 = a0 + lda,
      a2 = a1 + lda,
      a3 = a2 + lda;
    for (let j = 0; j < n4; j += 4) {
      const b0 = bOff + j * ldb,
        b1 = b0 + ldb,
        b2 = b1 + ldb,
        b3 = b2 + ldb;
      let c00 = 0,
        c01 = 0,
        c02 = 0,
        c03 = 0,
        c10 = 0,
        c11 = 0,
        c12 = 0,
        c13 = 0;
      let c20 = 0,
        c21 = 0,
        c22 = 0,
        c23 = 0,
        c30 = 0,
        c31 = 0,
        c32 = 0,
        c33 = 0;
      for (let r = 0; r < kk; r++) {
        const x0 = A[a0 + r],
          x1 = A[a1 + r],
          x2 = A[a2 + r],
          x3 = A[a3 + r];
        const y0 = B[b0 + r],
          y1 = B[b1 + r],
          y2 = B[b2 + r],
          y3 = B[b3 + r];
        c00 += x0 * y0;
        c01 += x0 * y1;
        c02 += x0 * y2;
        c03 += x0 * y3;
        c10 += x1 * y0;
        c11 += x1 * y1;
        c12 += x1 * y2;
        c13 += x1 * y3;
        c20 += x2 * y0;
        c21 += x2 * y1;
        c22 += x2 * y2;
        c23 += x2 * y3;
        c30 += x3 * y0;
        c31 += x3 * y1;
        c32 += x3 * y2;
        c33 += x3 * y3;
      }
      let o = cOff + i * ldc + j;
      if (accumulate) {
        C[o] += c00;
        C[o + 1] += c01;
        C[o + 2] += c02;
        C[o + 3] += c03;
        o += ldc;
        C[o] += c10;
        C[o + 1] += c11;
        C[o + 2] += c12;
        C[o + 3] += c13;
        o += ldc;
        C[o] += c20;
        C[o + 1] += c21;
        C[o + 2] += c22;
        C[o + 3] += c23;
        o += ldc;
        C[o] += c30;
        C[o + 1] += c31;
        C[o + 2] += c32;
        C[o + 3] += c33;
      } else {
        C[o] = c00;
        C[o + 1] = c01;
        C[o + 2] = c02;
        C[o + 3] = c03;
        o += ldc;
        C[o] = c10;
        C[o + 1] = c11;
        C[o + 2] = c12;
        C[o + 3] = c13;
        o += ldc;
        C[o] = c20;
        C[o + 1] = c21;
        C[o + 2] = c22;
        C[o + 3] = c23;
        o += ldc;
        C[o] = c30;
        C[o + 1] = c31;
        C[o + 2] = c32;
        C[o + 3] = c33;
      }
    }
    for (let j = n4; j < nn; j++) edge(A, aOff, lda, B, bOff, ldb, C, cOff, ldc, i, 4, j, kk, accumulate);
  }
  for (let j = 0; j < nn; j++) edge(A, aOff, lda, B, bOff, ldb, C, cOff, ldc, m4, m - m4, j, kk, accumulate);
}

/** Rows i0..i0+rows of column j of C = A·Bᵀ, one dot product each. */
function edge(
  A: Float64Array,
  aOff: number,
  lda: number,
  B: Float64Array,
  bOff: number,
  ldb: number,
  C: Float64Array,
  cOff: number,
  ldc: number,
  i0: number,
  rows: number,
  j: number,
  kk: number,
  accumulate: boolean,
): void {
  const b = bOff + j * ldb;
  for (let i = i0; i < i0 + rows; i++) {
    const a = aOff + i * lda;
    let s = 0;
    for (let r = 0; r < kk; r++) s += A[a + r] * B[b + r];
    const o = cOff + i * ldc + j;
    C[o] = accumulate ? C[o] + s : s;
  }
}

/**
 * Orthonormalise the m rows (each of length len) of Q in place by modified Gram–Schmidt, run
 * twice for stability. A row that becomes (numerically) zero is replaced by a unit vector
 * orthogonal to the earlier rows, so the result always has m orthonormal rows (needs m ≤ len).
 */
export function orthonormalizeRows(Q: Float64Array, m: number, len: number): void {
  for (let pass = 0; pass < 2; pass++) {
    for (let a = 0; a < m; a++) {
      const ao = a * len;
      for (let b = 0; b < a; b++) {
        const bo = b * len;
        let dot = 0;
        for (let r = 0; r < len; r++) dot += Q[ao + r] * Q[bo + r];
        for (let r = 0; r < len; r++) Q[ao + r] -= dot * Q[bo + r];
      }
      let nrm = 0;
      for (let r = 0; r < len; r++) nrm += Q[ao + r] * Q[ao + r];
      nrm = Math.sqrt(nrm);
      if (nrm > 1e-300 && (pass === 0 || nrm > 1e-8)) {
        for (let r = 0; r < len; r++) Q[ao + r] /= nrm;
      } else {
        // degenerate direction: take the first unit vector e_t with a usable orthogonal part
        for (let t = 0; t < len; t++) {
          Q.fill(0, ao, ao + len);
          Q[ao + t] = 1;
          for (let b = 0; b < a; b++) {
            const bo = b * len;
            const dot = Q[bo + t];
            for (let r = 0; r < len; r++) Q[ao + r] -= dot * Q[bo + r];
          }
          let n2 = 0;
          for (let r = 0; r < len; r++) n2 += Q[ao + r] * Q[ao + r];
          if (n2 > 1e-6) {
            const s = 1 / Math.sqrt(n2);
            for (let r = 0; r < len; r++) Q[ao + r] *= s;
            break;
          }
        }
      }
    }
  }
}

/**
 * Eigen-decomposition of a small symmetric m×m matrix S (row-major, destroyed) by cyclic
 * Jacobi rotations. Returns eigenvalues in descending order and the eigenvectors as the rows
 * of `vectors` (row t belongs to values[t]).
 */
export function symmetricEigen(S: Float64Array, m: number): { values: Float64Array; vectors: Float64Array } {
  const V = new Float64Array(m * m);
  for (let i = 0; i < m; i++) V[i * m + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0,
      diag = 0;
    for (let i = 0; i < m; i++) {
      diag += S[i * m + i] * S[i * m + i];
      for (let j = i + 1; j < m; j++) off += S[i * m + j] * S[i * m + j];
    }
    if (off <= 1e-30 * diag || off === 0) break;
    for (let p = 0; p < m - 1; p++) {
      for (let q = p + 1; q < m; q++) {
        const apq = S[p * m + q];
        if (apq === 0) continue;
        const app = S[p * m + p],
          aqq = S[q * m + q];
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1),
          s = t * c;
        for (let k = 0; k < m; k++) {
          const akp = S[k * m + p],
            akq = S[k * m + q];
          S[k * m + p] = c * akp - s * akq;
          S[k * m + q] = s * akp + c * akq;
        }
        for (let k = 0; k < m; k++) {
          const apk = S[p * m + k],
            aqk = S[q * m + k];
          S[p * m + k] = c * apk - s * aqk;
          S[q * m + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < m; k++) {
          const vkp = V[k * m + p],
            vkq = V[k * m + q];
          V[k * m + p] = c * vkp - s * vkq;
          V[k * m + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: m }, (_, i) => i).sort((a, b) => S[b * m + b] - S[a * m + a] || a - b);
  const values = new Float64Array(m);
  const vectors = new Float64Array(m * m);
  for (let t = 0; t < m; t++) {
    const c = order[t];
    values[t] = S[c * m + c];
    for (let k = 0; k < m; k++) vectors[t * m + k] = V[k * m + c];
  }
  return { values, vectors };
}
