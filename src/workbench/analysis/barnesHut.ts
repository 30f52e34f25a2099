/**
 * Barnes–Hut repulsive forces of 2-D t-SNE on a linear quadtree.
 *
 * Each call sorts the points by their Morton (Z-order) code on a 2^16 × 2^16 grid over the
 * bounding square (LSD radix sort, stable), so every quadtree cell is a contiguous range of the
 * sorted points and its centre of mass comes from prefix sums. Cells split by quadrant down to
 * at most LEAF points (or the grid's last level). For each leaf the tree is walked once from
 * the root for all its points: a cell that does not contain the leaf and satisfies
 * width² < θ²·dist² (scikit-learn's criterion, cell width over the distance to its centre of
 * mass below θ) for the leaf point nearest to it is taken as one summary point for each point
 * of the leaf; a leaf that fails it is summed point by point.
 *
 *   w_ij = 1 / (1 + |y_i − y_j|²),  Z = Σ_{i≠j} w_ij,  F_rep,i = Σ_j w_ij² (y_i − y_j)
 */

const LEAF_DEFAULT = 32;
const BITS = 16;
const MAX_LEVEL = BITS;

/** Spread the low 16 bits of v to the even bit positions. */
function spread(v: number): number {
  v = (v | (v << 8)) & 0x00ff00ff;
  v = (v | (v << 4)) & 0x0f0f0f0f;
  v = (v | (v << 2)) & 0x33333333;
  v = (v | (v << 1)) & 0x55555555;
  return v;
}

/** Reusable buffers for repeated Barnes–Hut evaluations on n points. */
export class BarnesHut {
  private readonly codes: Uint32Array;
  private readonly codesTmp: Uint32Array;
  private readonly order: Int32Array;
  private readonly orderTmp: Int32Array;
  private readonly counts = new Int32Array(2048);
  private readonly sx: Float64Array;
  private readonly sy: Float64Array;
  private readonly px: Float64Array;
  private readonly py: Float64Array;
  private cap = 0;
  private nStart = new Int32Array(0);
  private nEnd = new Int32Array(0);
  private nFirst = new Int32Array(0);
  private nKids = new Uint8Array(0);
  private nLevel = new Uint8Array(0);
  private nodes = 0;
  private readonly stack: Int32Array;
  private readonly width2: Float64Array = new Float64Array(MAX_LEVEL + 1);
  private comX = new Float64Array(0);
  private comY = new Float64Array(0);
  private maxLeaf = 0;
  private accX = new Float64Array(0);
  private accY = new Float64Array(0);
  private accZ = new Float64Array(0);

  /** Buffers for n points; leaves hold up to `leafSize` points (32: fastest at 20k points, and more exact than 1). */
  constructor(
    readonly n: number,
    private readonly leafSize = LEAF_DEFAULT,
  ) {
    this.codes = new Uint32Array(n);
    this.codesTmp = new Uint32Array(n);
    this.order = new Int32Array(n);
    this.orderTmp = new Int32Array(n);
    this.sx = new Float64Array(n);
    this.sy = new Float64Array(n);
    this.px = new Float64Array(n + 1);
    this.py = new Float64Array(n + 1);
    this.grow(Math.max(64, 2 * Math.ceil(n / leafSize) * 4));
    this.stack = new Int32Array(4 * (MAX_LEVEL + 2) + 8);
  }

  private grow(cap: number): void {
    const g = <T extends Int32Array | Uint8Array>(a: T, make: (c: number) => T): T => {
      const b = make(cap);
      b.set(a.subarray(0, this.nodes));
      return b;
    };
    this.nStart = g(this.nStart, (c) => new Int32Array(c));
    this.nEnd = g(this.nEnd, (c) => new Int32Array(c));
    this.nFirst = g(this.nFirst, (c) => new Int32Array(c));
    this.nKids = g(this.nKids, (c) => new Uint8Array(c));
    this.nLevel = g(this.nLevel, (c) => new Uint8Array(c));
    const cx = new Float64Array(cap);
    cx.set(this.comX.subarray(0, this.nodes));
    this.comX = cx;
    const cy = new Float64Array(cap);
    cy.set(this.comY.subarray(0, this.nodes));
    this.comY = cy;
    this.cap = cap;
  }

  /**
   * Repulsive forces of embedding y (n × 2, interleaved): writes F_rep into rep (n × 2) and
   * returns Z. theta = 0 makes it exact (every cell is opened down to single points).
   *
   * The walk is done once per leaf for all its points (at most LEAF, more only for
   * duplicates): a cell is summarised when the criterion holds for the nearest point of the
   * leaf's bounding box, i.e. for every point of the leaf, so each point gets at least the
   * accuracy of a per-point walk; leaf–leaf pairs that fail it are summed point by point.
   */
  // why: the hot loop of t-SNE (once per iteration over every leaf and cell); splitting it costs calls per point per node
  repulsion(y: Float64Array, theta: number, rep: Float64Array): number {
    const n = this.n;
    this.build(y);
    const { sx, sy, order, nStart, nEnd, nFirst, nKids, nLevel, comX, comY, stack, width2 } = this;
    const theta2 = theta * theta;
    const leafMax = this.maxLeaf;
    if (this.accX.length < leafMax) {
      this.accX = new Float64Array(leafMax);
      this.accY = new Float64Array(leafMax);
      this.accZ = new Float64Array(leafMax);
    }
    const { accX, accY, accZ } = this;
    let Z = 0;
    for (let leaf = 0; leaf < this.nodes; leaf++) {
      if (nKids[leaf] !== 0) continue;
      const ls = nStart[leaf],
        le = nEnd[leaf],
        lc = le - ls;
      let bx0 = Infinity,
        by0 = Infinity,
        bx1 = -Infinity,
        by1 = -Infinity;
      for (let p = ls; p < le; p++) {
        const a = sx[p],
          b = sy[p];
        if (a < bx0) bx0 = a;
        if (a > bx1) bx1 = a;
        if (b < by0) by0 = b;
        if (b > by1) by1 = b;
        accX[p - ls] = 0;
        accY[p - ls] = 0;
        accZ[p - ls] = 0;
      }
      let sp = 0;
      stack[sp++] = 0;
      while (sp > 0) {
        const nd = stack[--sp];
        const s = nStart[nd],
          e = nEnd[nd];
        if (s <= ls && le <= e) {
          // the cell holds this leaf: open it (or, for the leaf itself, sum its own pairs)
          if (nd === leaf) {
            for (let a = ls; a < le; a++) {
              const xa = sx[a],
                ya = sy[a];
              let fx = 0,
                fy = 0,
                z = 0;
              for (let b = a + 1; b < le; b++) {
                const dx = xa - sx[b],
                  dy = ya - sy[b];
                const q = 1 / (1 + dx * dx + dy * dy);
                const f = q * q;
                z += q;
                fx += f * dx;
                fy += f * dy;
                accX[b - ls] -= f * dx;
                accY[b - ls] -= f * dy;
                accZ[b - ls] += q;
              }
              accX[a - ls] += fx;
              accY[a - ls] += fy;
              accZ[a - ls] += z;
            }
          } else {
            const f0 = nFirst[nd];
            for (let c = nKids[nd] - 1; c >= 0; c--) stack[sp++] = f0 + c;
          }
          continue;
        }
        const cx = comX[nd],
          cy = comY[nd];
        // distance from the centre of mass to the leaf's bounding box
        const ex = cx < bx0 ? bx0 - cx : cx > bx1 ? cx - bx1 : 0;
        const ey = cy < by0 ? by0 - cy : cy > by1 ? cy - by1 : 0;
        if (width2[nLevel[nd]] < theta2 * (ex * ex + ey * ey)) {
          const cnt = e - s;
          for (let p = ls; p < le; p++) {
            const dx = sx[p] - cx,
              dy = sy[p] - cy;
            const q = 1 / (1 + dx * dx + dy * dy);
            const zq = cnt * q;
            const f = zq * q;
            accZ[p - ls] += zq;
            accX[p - ls] += f * dx;
            accY[p - ls] += f * dy;
          }
        } else if (nKids[nd] === 0) {
          for (let p = ls; p < le; p++) {
            const xp = sx[p],
              yp = sy[p];
            let fx = 0,
              fy = 0,
              z = 0;
            for (let t = s; t < e; t++) {
              const dx = xp - sx[t],
                dy = yp - sy[t];
              const q = 1 / (1 + dx * dx + dy * dy);
              const f = q * q;
              z += q;
              fx += f * dx;
              fy += f * dy;
            }
            accX[p - ls] += fx;
            accY[p - ls] += fy;
            accZ[p - ls] += z;
          }
        } else {
          const f0 = nFirst[nd];
          for (let c = nKids[nd] - 1; c >= 0; c--) stack[sp++] = f0 + c;
        }
      }
      for (let p = ls; p < le; p++) {
        const i = order[p];
        rep[2 * i] = accX[p - ls];
        rep[2 * i + 1] = accY[p - ls];
        Z += accZ[p - ls];
      }
    }
    return Z;
  }

  /** Sort the points by Morton code and build the cell tree over the sorted ranges. */
  private build(y: Float64Array): void {
    this.sortPoints(y);
    this.buildTree();
  }

  /**
   * Morton codes on the bounding square (cell widths per level into width2), the stable sort by
   * code, the sorted coordinates (sx, sy) and their prefix sums (px, py).
   */
  private sortPoints(y: Float64Array): void {
    const n = this.n;
    let minX = Infinity,
      minY = Infinity,
      maxX = -Infinity,
      maxY = -Infinity;
    for (let i = 0; i < n; i++) {
      const a = y[2 * i],
        b = y[2 * i + 1];
      if (a < minX) minX = a;
      if (a > maxX) maxX = a;
      if (b < minY) minY = b;
      if (b > maxY) maxY = b;
    }
    const side = Math.max(maxX - minX, maxY - minY, 1e-12) * (1 + 1e-9);
    for (let l = 0; l <= MAX_LEVEL; l++) {
      const w = side / 2 ** l;
      this.width2[l] = w * w;
    }
    const scale = (1 << BITS) / side;
    const top = (1 << BITS) - 1;
    const { codes, order } = this;
    for (let i = 0; i < n; i++) {
      let qx = Math.floor((y[2 * i] - minX) * scale);
      if (qx > top) qx = top;
      let qy = Math.floor((y[2 * i + 1] - minY) * scale);
      if (qy > top) qy = top;
      codes[i] = (spread(qx) | (spread(qy) << 1)) >>> 0;
      order[i] = i;
    }
    this.radixSort();
    const { sx, sy, px, py } = this;
    px[0] = 0;
    py[0] = 0;
    for (let p = 0; p < n; p++) {
      const i = this.order[p];
      sx[p] = y[2 * i];
      sy[p] = y[2 * i + 1];
      px[p + 1] = px[p] + sx[p];
      py[p + 1] = py[p] + sy[p];
    }
  }

  /** The cell tree over the sorted points: centres of mass, and quadrant splits down to leaves. */
  private buildTree(): void {
    const n = this.n;
    const { px, py } = this;
    // nodes: root, then each split appends its non-empty children contiguously
    this.nodes = 0;
    this.maxLeaf = 0;
    this.addNode(0, n, 0);
    const sorted = this.codes;
    for (let nd = 0; nd < this.nodes; nd++) {
      const s = this.nStart[nd],
        e = this.nEnd[nd],
        level = this.nLevel[nd];
      this.comX[nd] = (px[e] - px[s]) / (e - s);
      this.comY[nd] = (py[e] - py[s]) / (e - s);
      if (e - s <= this.leafSize || level >= MAX_LEVEL) {
        this.nKids[nd] = 0;
        if (e - s > this.maxLeaf) this.maxLeaf = e - s;
        continue;
      }
      const shift = 2 * (BITS - 1 - level);
      let first = -1,
        kids = 0;
      let a = s;
      for (let quad = 0; quad < 4 && a < e; quad++) {
        // first position in [a, e) whose quadrant at this level exceeds quad
        let lo = a,
          hi = e;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (((sorted[mid] >>> shift) & 3) <= quad) lo = mid + 1;
          else hi = mid;
        }
        if (lo > a) {
          const id = this.addNode(a, lo, level + 1);
          if (first < 0) first = id;
          kids++;
        }
        a = lo;
      }
      this.nFirst[nd] = first;
      this.nKids[nd] = kids;
    }
  }

  private addNode(s: number, e: number, level: number): number {
    if (this.nodes === this.cap) this.grow(this.cap * 2);
    const id = this.nodes++;
    this.nStart[id] = s;
    this.nEnd[id] = e;
    this.nLevel[id] = level;
    this.nKids[id] = 0;
    this.nFirst[id] = -1;
    return id;
  }

  /** Stable LSD radix sort of (codes, order) by code: three 11-bit passes. */
  private radixSort(): void {
    const n = this.n;
    let kin = this.codes,
      kout = this.codesTmp,
      vin = this.order,
      vout = this.orderTmp;
    const counts = this.counts;
    for (let shift = 0; shift < 32; shift += 11) {
      counts.fill(0);
      for (let i = 0; i < n; i++) counts[(kin[i] >>> shift) & 2047]++;
      let sum = 0;
      for (let b = 0; b < 2048; b++) {
        const c = counts[b];
        counts[b] = sum;
        sum += c;
      }
      for (let i = 0; i < n; i++) {
        const key = kin[i];
        const dst = counts[(key >>> shift) & 2047]++;
        kout[dst] = key;
        vout[dst] = vin[i];
      }
      const tk = kin;
      kin = kout;
      kout = tk;
      const tv = vin;
      vin = vout;
      vout = tv;
    }
    // three passes: the result is in the "tmp" buffers; copy back
    this.codes.set(kin);
    this.order.set(vin);
  }
}
