import type { Rng } from '../../util/rng.js';

/**
 * A tiny analytic rasteriser for the phantom generator. Shapes are signed-distance functions
 * (SDF, negative inside) in object coordinates (x right, y down, the field of view is about
 * [-1, 1]²); the canvas maps each pixel through a random similarity transform (rotation, scale,
 * shift) into object space, so anatomy is written once and every image sees it in a slightly
 * different pose. Intensities are floats in [0, 1] until `toBytes`.
 */
export type Sdf = (x: number, y: number) => number;
export type Field = (x: number, y: number) => number;

export interface Pose {
  /** Rotation in radians. */
  angle: number;
  /** Zoom (> 1 makes the anatomy larger). */
  scale: number;
  /** Shift in object units. */
  tx: number;
  ty: number;
}

export type BlendMode = 'over' | 'add' | 'mul';

export interface PaintOptions {
  /** Edge width in object units (at least one pixel); larger gives a fuzzy margin. */
  soft?: number;
  mode?: BlendMode;
  /** Paint only inside this shape (soft-clipped at one pixel). */
  clip?: Sdf;
  /** Bounding circle [cx, cy, r] in object units; pixels outside are skipped (speed only). */
  bound?: readonly [number, number, number];
  opacity?: number;
}

export class Canvas {
  readonly data: Float32Array;
  /** Object coordinates of each pixel centre. */
  readonly ox: Float32Array;
  readonly oy: Float32Array;
  /** Width of one pixel in object units. */
  readonly px: number;

  constructor(
    readonly size: number,
    readonly pose: Pose,
    background = 0,
  ) {
    const n = size * size;
    this.data = new Float32Array(n).fill(background);
    this.ox = new Float32Array(n);
    this.oy = new Float32Array(n);
    const c = Math.cos(pose.angle);
    const s = Math.sin(pose.angle);
    for (let j = 0; j < size; j++) {
      for (let i = 0; i < size; i++) {
        // pixel -> view coordinates in [-1, 1], then invert the pose
        const vx = ((i + 0.5) / size) * 2 - 1 - pose.tx;
        const vy = ((j + 0.5) / size) * 2 - 1 - pose.ty;
        const p = j * size + i;
        this.ox[p] = (c * vx + s * vy) / pose.scale;
        this.oy[p] = (-s * vx + c * vy) / pose.scale;
      }
    }
    this.px = 2 / size / pose.scale;
  }

  /** Pixel-index rectangle [i0, i1) × [j0, j1) covering a bounding circle in object space. */
  private rect(bound?: readonly [number, number, number]): [number, number, number, number] {
    const n = this.size;
    if (!bound) return [0, n, 0, n];
    const [cx, cy, r] = bound;
    const { angle, scale, tx, ty } = this.pose;
    const c = Math.cos(angle);
    const s = Math.sin(angle);
    const vx = (c * cx - s * cy) * scale + tx;
    const vy = (s * cx + c * cy) * scale + ty;
    const rp = (r * scale * n) / 2 + 2;
    const pi = ((vx + 1) / 2) * n - 0.5;
    const pj = ((vy + 1) / 2) * n - 0.5;
    return [
      Math.max(0, Math.floor(pi - rp)),
      Math.min(n, Math.ceil(pi + rp) + 1),
      Math.max(0, Math.floor(pj - rp)),
      Math.min(n, Math.ceil(pj + rp) + 1),
    ];
  }

  /** Paint `value` (a constant or a field of object coordinates) inside `shape`. */
  paint(shape: Sdf, value: number | Field, opts: PaintOptions = {}): void {
    const w = Math.max(this.px, opts.soft ?? 0);
    const mode = opts.mode ?? 'over';
    const opacity = opts.opacity ?? 1;
    const clip = opts.clip;
    const [i0, i1, j0, j1] = this.rect(opts.bound);
    const d = this.data;
    for (let j = j0; j < j1; j++) {
      for (let i = i0; i < i1; i++) {
        const p = j * this.size + i;
        const x = this.ox[p];
        const y = this.oy[p];
        let a = coverage(shape(x, y), w);
        if (a <= 0) continue;
        if (clip) {
          a *= coverage(clip(x, y), this.px);
          if (a <= 0) continue;
        }
        a *= opacity;
        const v = typeof value === 'number' ? value : value(x, y);
        if (mode === 'over') d[p] += (v - d[p]) * a;
        else if (mode === 'add') d[p] += v * a;
        else d[p] *= 1 + (v - 1) * a;
      }
    }
  }

  /** Apply `f(value, x, y)` to every pixel. */
  map(f: (v: number, x: number, y: number) => number): void {
    const d = this.data;
    for (let p = 0; p < d.length; p++) d[p] = f(d[p], this.ox[p], this.oy[p]);
  }

  /** Separable [1 2 1]/4 blur, `passes` times (edges clamp). */
  blur(passes = 1): void {
    const n = this.size;
    const tmp = new Float32Array(n * n);
    const d = this.data;
    for (let k = 0; k < passes; k++) {
      for (let j = 0; j < n; j++) {
        for (let i = 0; i < n; i++) {
          const l = d[j * n + Math.max(0, i - 1)];
          const r = d[j * n + Math.min(n - 1, i + 1)];
          tmp[j * n + i] = 0.25 * l + 0.5 * d[j * n + i] + 0.25 * r;
        }
      }
      for (let j = 0; j < n; j++) {
        for (let i = 0; i < n; i++) {
          const u = tmp[Math.max(0, j - 1) * n + i];
          const b = tmp[Math.min(n - 1, j + 1) * n + i];
          d[j * n + i] = 0.25 * u + 0.5 * tmp[j * n + i] + 0.25 * b;
        }
      }
    }
  }

  /** Additive Gaussian noise of standard deviation `sigma`. */
  gaussianNoise(rng: Rng, sigma: number): void {
    const d = this.data;
    for (let p = 0; p < d.length; p++) d[p] += sigma * rng.normal();
  }

  /** Rician noise, as in magnitude MR: |v + σ(n₁ + i n₂)|. */
  ricianNoise(rng: Rng, sigma: number): void {
    const d = this.data;
    for (let p = 0; p < d.length; p++) {
      const re = d[p] + sigma * rng.normal();
      const im = sigma * rng.normal();
      d[p] = Math.sqrt(re * re + im * im);
    }
  }

  /**
   * Multiplicative ultrasound speckle: the magnitude of a complex Gaussian field smoothed over
   * `grain` blur passes (so speckle grains span a few pixels), normalised to mean 1, mixed in
   * with weight `strength`.
   */
  speckle(rng: Rng, strength: number, grain = 1): void {
    const n = this.size;
    const re = new Canvas(n, this.pose);
    const im = new Canvas(n, this.pose);
    for (let p = 0; p < n * n; p++) {
      re.data[p] = rng.normal();
      im.data[p] = rng.normal();
    }
    re.blur(grain);
    im.blur(grain);
    let mean = 0;
    const mag = new Float32Array(n * n);
    for (let p = 0; p < n * n; p++) {
      mag[p] = Math.sqrt(re.data[p] * re.data[p] + im.data[p] * im.data[p]);
      mean += mag[p];
    }
    mean /= n * n;
    const d = this.data;
    for (let p = 0; p < d.length; p++) d[p] *= 1 - strength + (strength * mag[p]) / mean;
  }

  /** 8-bit grey levels: clamp to [0, 1], scale, round. */
  toBytes(): Uint8Array {
    const d = this.data;
    const out = new Uint8Array(d.length);
    for (let p = 0; p < d.length; p++) {
      const v = d[p];
      out[p] = v <= 0 ? 0 : v >= 1 ? 255 : Math.round(v * 255);
    }
    return out;
  }
}

/** Fraction of a pixel covered at signed distance `sd` for an edge of width `w` (smoothstep ramp). */
function coverage(sd: number, w: number): number {
  const t = 0.5 - sd / w;
  if (t <= 0) return 0;
  if (t >= 1) return 1;
  return t * t * (3 - 2 * t);
}

// ---------------------------------------------------------------------------------------------
// Shapes (signed distance in object units, negative inside)

/** Ellipse with centre (cx, cy), radii (rx, ry), rotated by `angle`; first-order distance estimate. */
export function ellipse(cx: number, cy: number, rx: number, ry: number, angle = 0): Sdf {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const rx2 = rx * rx;
  const ry2 = ry * ry;
  const rmin = Math.min(rx, ry);
  return (x, y) => {
    const dx = x - cx;
    const dy = y - cy;
    const u = c * dx + s * dy;
    const v = -s * dx + c * dy;
    const k = Math.sqrt((u * u) / rx2 + (v * v) / ry2);
    const g = Math.sqrt((u * u) / (rx2 * rx2) + (v * v) / (ry2 * ry2));
    if (g < 1e-9) return -rmin;
    return ((k - 1) * k) / g;
  };
}

/** Circle. */
export function circle(cx: number, cy: number, r: number): Sdf {
  return (x, y) => {
    const dx = x - cx;
    const dy = y - cy;
    return Math.sqrt(dx * dx + dy * dy) - r;
  };
}

/** Capsule: the segment a–b thickened to radius r (r may taper from ra to rb). */
export function capsule(ax: number, ay: number, bx: number, by: number, ra: number, rb = ra): Sdf {
  const ex = bx - ax;
  const ey = by - ay;
  const l2 = ex * ex + ey * ey || 1e-12;
  return (x, y) => {
    let t = ((x - ax) * ex + (y - ay) * ey) / l2;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    const dx = x - ax - t * ex;
    const dy = y - ay - t * ey;
    return Math.sqrt(dx * dx + dy * dy) - (ra + (rb - ra) * t);
  };
}

/** Rectangle of half-sizes (hw, hh), rotated by `angle`, corners rounded by `round`. */
export function box(cx: number, cy: number, hw: number, hh: number, angle = 0, round = 0): Sdf {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  return (x, y) => {
    const dx = x - cx;
    const dy = y - cy;
    const u = Math.abs(c * dx + s * dy) - hw + round;
    const v = Math.abs(-s * dx + c * dy) - hh + round;
    const mu = u > 0 ? u : 0;
    const mv = v > 0 ? v : 0;
    const outside = Math.sqrt(mu * mu + mv * mv);
    return outside + Math.min(Math.max(u, v), 0) - round;
  };
}

/**
 * A blob whose radius varies with angle: r(θ) = r·(1 + Σ aₖ cos(kθ + φₖ)) around (cx, cy),
 * squashed to aspect `ry/rx` and rotated: irregular masses, gyri, spiculation.
 */
export function wobbly(
  cx: number,
  cy: number,
  rx: number,
  ry: number,
  angle: number,
  harmonics: readonly (readonly [number, number, number])[],
): Sdf {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const q = ry / rx;
  const m = harmonics.length;
  const h = Float64Array.from(harmonics.flat());
  const shrink = Math.min(1, q);
  return (x, y) => {
    const dx = x - cx;
    const dy = y - cy;
    const u = c * dx + s * dy;
    const v = (-s * dx + c * dy) / q;
    const th = Math.atan2(v, u);
    let f = 1;
    for (let i = 0; i < m; i++) f += h[3 * i + 1] * Math.cos(h[3 * i] * th + h[3 * i + 2]);
    return (Math.sqrt(u * u + v * v) - rx * f) * shrink;
  };
}

/** Random harmonics for `wobbly`: k in [kmin, kmax], amplitude up to `amp` / k^decay. */
export function randomHarmonics(
  rng: Rng,
  kmin: number,
  kmax: number,
  amp: number,
  decay = 0.5,
): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (let k = kmin; k <= kmax; k++) out.push([k, (amp * rng.next()) / Math.pow(k, decay), 2 * Math.PI * rng.next()]);
  return out;
}

export const union =
  (...s: Sdf[]): Sdf =>
  (x, y) => {
    let m = Infinity;
    for (const f of s) m = Math.min(m, f(x, y));
    return m;
  };
export const intersect =
  (...s: Sdf[]): Sdf =>
  (x, y) => {
    let m = -Infinity;
    for (const f of s) m = Math.max(m, f(x, y));
    return m;
  };
export const subtract =
  (a: Sdf, b: Sdf): Sdf =>
  (x, y) =>
    Math.max(a(x, y), -b(x, y));
/** Shell of thickness t centred on the boundary of `a`. */
export const shell =
  (a: Sdf, t: number): Sdf =>
  (x, y) =>
    Math.abs(a(x, y)) - t / 2;
/** Half-plane n·(p − p0) > 0 is outside (normal (nx, ny) need not be unit). */
export function halfPlane(px0: number, py0: number, nx: number, ny: number): Sdf {
  const l = Math.hypot(nx, ny);
  return (x, y) => ((x - px0) * nx + (y - py0) * ny) / l;
}

/**
 * Smooth value noise in [-1, 1] over object space [-1.5, 1.5]², `cells` cells a side,
 * smoothstep-interpolated: tissue texture, bias fields, fuzzy consolidation.
 */
export function valueNoise(rng: Rng, cells: number): Field {
  const g = cells + 1;
  const v = new Float32Array(g * g);
  for (let k = 0; k < v.length; k++) v[k] = rng.next() * 2 - 1;
  const lo = -1.5;
  const span = 3;
  return (x, y) => {
    let fx = ((x - lo) / span) * cells;
    let fy = ((y - lo) / span) * cells;
    fx = fx < 0 ? 0 : fx > cells - 1e-6 ? cells - 1e-6 : fx;
    fy = fy < 0 ? 0 : fy > cells - 1e-6 ? cells - 1e-6 : fy;
    const i = Math.floor(fx);
    const j = Math.floor(fy);
    let tx = fx - i;
    let ty = fy - j;
    tx = tx * tx * (3 - 2 * tx);
    ty = ty * ty * (3 - 2 * ty);
    const a = v[j * g + i];
    const b = v[j * g + i + 1];
    const c = v[(j + 1) * g + i];
    const d = v[(j + 1) * g + i + 1];
    return (a + (b - a) * tx) * (1 - ty) + (c + (d - c) * tx) * ty;
  };
}
