/**
 * L-BFGS (Nocedal & Wright, Numerical Optimization, 2nd ed., Alg. 7.4 and 7.5: two-loop recursion,
 * H0 = sᵀy/yᵀy of the newest pair) with Moré & Thuente's line search, which ends at a step that
 * satisfies the strong Wolfe conditions (MINPACK-2 dcsrch/dcstep, the one scipy's L-BFGS-B uses,
 * so on an unconstrained problem the iterates follow scipy's). Float64Array state and history.
 *
 * Stopping as scipy's L-BFGS-B, which scikit-learn's `lbfgs` solver calls: converged when
 * max_i |g_i| ≤ gtol (sklearn passes its `tol` as gtol), or when the relative decrease of f in an
 * iteration, (f_k − f_{k+1}) / max(|f_k|, |f_{k+1}|, 1), is ≤ ftol (scipy's default
 * factr·eps = 1e7 · 2.22e-16); otherwise it stops at maxIter iterations.
 */
import { metricsError } from './check.js';

/** f(x), writing ∇f(x) into `grad`. */
export type Objective = (x: Float64Array, grad: Float64Array) => number;

export interface LbfgsOptions {
  /** Projected-gradient tolerance, max_i |g_i| (scipy gtol); default 1e-4 (sklearn's tol). */
  gtol?: number;
  /** Relative decrease of f per iteration (scipy ftol); default 1e7 · 2.220446049250313e-16. */
  ftol?: number;
  /** Iterations (scipy maxiter); default 1000. */
  maxIter?: number;
  /** Correction pairs kept (scipy maxcor); default 10. */
  memory?: number;
  /** Function evaluations per line search (scipy maxls); default 20. */
  maxLineSearch?: number;
  /** Sufficient decrease constant of the Wolfe conditions; default 1e-3 (scipy L-BFGS-B's line search). */
  c1?: number;
  /** Curvature constant of the strong Wolfe conditions; default 0.9. */
  c2?: number;
  /** Called after each iteration. */
  onIteration?: (it: { iteration: number; f: number; gradMax: number }) => void;
}

/** Why the iterations stopped: 'gradient' and 'decrease' are convergence; 'max-iter' is the cap; 'line-search' means no step satisfying the Wolfe conditions was found. */
export type LbfgsStatus = 'gradient' | 'decrease' | 'max-iter' | 'line-search';

export interface LbfgsResult {
  x: Float64Array;
  f: number;
  /** max_i |∇f_i| at x. */
  gradMax: number;
  iterations: number;
  evaluations: number;
  status: LbfgsStatus;
  converged: boolean;
}

const EPS = 2.220446049250313e-16;

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const v = Math.abs(a[i]);
    if (v > m || v !== v) m = v;
  }
  return m;
}

/** The safeguarded step of Moré & Thuente's line search: the bracket (x, y) and the trial point. */
interface Bracket {
  stx: number;
  fx: number;
  dx: number;
  sty: number;
  fy: number;
  dy: number;
  brackt: boolean;
}

/** γ of the cubic interpolation of dcstep: s·sqrt((θ/s)² − (a/s)(b/s)), the sign set by the caller. */
function gammaOf(theta: number, a: number, b: number, clamp: boolean): number {
  const s = Math.max(Math.abs(theta), Math.abs(a), Math.abs(b));
  const v = (theta / s) ** 2 - (a / s) * (b / s);
  return s * Math.sqrt(clamp ? Math.max(0, v) : v);
}

/**
 * MINPACK-2 dcstep (Moré & Thuente 1994), as in scipy's L-BFGS-B: a new trial step from the
 * bracket and the trial (stp, fp, dp), updating the bracket in place.
 */
function dcstep(b: Bracket, stp: number, fp: number, dp: number, stpmin: number, stpmax: number): number {
  const { stx, fx, dx, sty, fy, dy } = b;
  const sgnd = dp * Math.sign(dx);
  let stpf: number;
  if (fp > fx) {
    const theta = (3 * (fx - fp)) / (stp - stx) + dx + dp;
    let gamma = gammaOf(theta, dx, dp, false);
    if (stp < stx) gamma = -gamma;
    const r = (gamma - dx + theta) / (gamma - dx + gamma + dp);
    const stpc = stx + r * (stp - stx);
    const stpq = stx + (dx / ((fx - fp) / (stp - stx) + dx) / 2) * (stp - stx);
    stpf = Math.abs(stpc - stx) < Math.abs(stpq - stx) ? stpc : stpc + (stpq - stpc) / 2;
    b.brackt = true;
  } else if (sgnd < 0) {
    const theta = (3 * (fx - fp)) / (stp - stx) + dx + dp;
    let gamma = gammaOf(theta, dx, dp, false);
    if (stp > stx) gamma = -gamma;
    const r = (gamma - dp + theta) / (gamma - dp + gamma + dx);
    const stpc = stp + r * (stx - stp);
    const stpq = stp + (dp / (dp - dx)) * (stx - stp);
    stpf = Math.abs(stpc - stp) > Math.abs(stpq - stp) ? stpc : stpq;
    b.brackt = true;
  } else if (Math.abs(dp) < Math.abs(dx)) {
    const theta = (3 * (fx - fp)) / (stp - stx) + dx + dp;
    let gamma = gammaOf(theta, dx, dp, true);
    if (stp > stx) gamma = -gamma;
    const r = (gamma - dp + theta) / (gamma + (dx - dp) + gamma);
    const stpc = r < 0 && gamma !== 0 ? stp + r * (stx - stp) : stp > stx ? stpmax : stpmin;
    const stpq = stp + (dp / (dp - dx)) * (stx - stp);
    if (b.brackt) {
      stpf = Math.abs(stpc - stp) < Math.abs(stpq - stp) ? stpc : stpq;
      stpf = stp > stx ? Math.min(stp + 0.66 * (sty - stp), stpf) : Math.max(stp + 0.66 * (sty - stp), stpf);
    } else {
      stpf = Math.abs(stpc - stp) > Math.abs(stpq - stp) ? stpc : stpq;
      stpf = Math.max(stpmin, Math.min(stpmax, stpf));
    }
  } else if (b.brackt) {
    const theta = (3 * (fp - fy)) / (sty - stp) + dy + dp;
    let gamma = gammaOf(theta, dy, dp, false);
    if (stp > sty) gamma = -gamma;
    const r = (gamma - dp + theta) / (gamma - dp + gamma + dy);
    stpf = stp + r * (sty - stp);
  } else stpf = stp > stx ? stpmax : stpmin;
  if (fp > fx) {
    b.sty = stp;
    b.fy = fp;
    b.dy = dp;
  } else {
    if (sgnd < 0) {
      b.sty = stx;
      b.fy = fx;
      b.dy = dx;
    }
    b.stx = stp;
    b.fx = fp;
    b.dx = dp;
  }
  return stpf;
}

/**
 * MINPACK-2 dcsrch with scipy L-BFGS-B's constants (ftol = c1, gtol = c2, xtol = 0.1, stpmin 0):
 * `next(f, g)` takes φ(stp) and φ'(stp) of the last trial and returns 'done' (the strong Wolfe
 * conditions hold, or a rounding/interval warning: the step is taken as it is) or the next trial.
 */
class MoreThuente {
  private stage = 1;
  private readonly gtest: number;
  private width: number;
  private width1: number;
  private stmin = 0;
  private stmax: number;
  private readonly b: Bracket;
  constructor(
    private readonly finit: number,
    private readonly ginit: number,
    public stp: number,
    private readonly c: { c1: number; c2: number; stpmax: number },
  ) {
    this.gtest = c.c1 * ginit;
    this.width = c.stpmax;
    this.width1 = this.width / 0.5;
    this.stmax = stp + 4 * stp;
    this.b = { stx: 0, fx: finit, dx: ginit, sty: 0, fy: finit, dy: ginit, brackt: false };
  }

  next(f: number, g: number): 'done' | 'trial' {
    const { b, c, gtest } = this;
    let stp = this.stp;
    const ftest = this.finit + stp * gtest;
    if (this.stage === 1 && f <= ftest && g >= 0) this.stage = 2;
    const warn =
      (b.brackt && (stp <= this.stmin || stp >= this.stmax)) ||
      (b.brackt && this.stmax - this.stmin <= 0.1 * this.stmax) ||
      (stp === c.stpmax && f <= ftest && g <= gtest) ||
      (stp === 0 && (f > ftest || g >= gtest));
    if (warn || (f <= ftest && Math.abs(g) <= c.c2 * -this.ginit)) return 'done';
    if (this.stage === 1 && f <= b.fx && f > ftest) {
      // the modified function ψ(α) = φ(α) − φ(0) − c1 α φ'(0) while no step has sufficient decrease
      const m: Bracket = {
        ...b,
        fx: b.fx - b.stx * gtest,
        fy: b.fy - b.sty * gtest,
        dx: b.dx - gtest,
        dy: b.dy - gtest,
      };
      stp = dcstep(m, stp, f - stp * gtest, g - gtest, this.stmin, this.stmax);
      Object.assign(b, m, { fx: m.fx + m.stx * gtest, fy: m.fy + m.sty * gtest, dx: m.dx + gtest, dy: m.dy + gtest });
    } else stp = dcstep(b, stp, f, g, this.stmin, this.stmax);
    if (b.brackt) {
      if (Math.abs(b.sty - b.stx) >= 0.66 * this.width1) stp = b.stx + 0.5 * (b.sty - b.stx);
      this.width1 = this.width;
      this.width = Math.abs(b.sty - b.stx);
      this.stmin = Math.min(b.stx, b.sty);
      this.stmax = Math.max(b.stx, b.sty);
    } else {
      this.stmin = stp + 1.1 * (stp - b.stx);
      this.stmax = stp + 4 * (stp - b.stx);
    }
    stp = Math.min(Math.max(stp, 0), c.stpmax);
    if (
      (b.brackt && (stp <= this.stmin || stp >= this.stmax)) ||
      (b.brackt && this.stmax - this.stmin <= 0.1 * this.stmax)
    )
      stp = b.stx;
    this.stp = stp;
    return 'trial';
  }
}

function options(o: LbfgsOptions) {
  const r = {
    gtol: o.gtol ?? 1e-4,
    ftol: o.ftol ?? 1e7 * EPS,
    maxIter: o.maxIter ?? 1000,
    memory: o.memory ?? 10,
    maxLineSearch: o.maxLineSearch ?? 20,
    c1: o.c1 ?? 1e-3,
    c2: o.c2 ?? 0.9,
  };
  const ok =
    r.gtol >= 0 &&
    r.ftol >= 0 &&
    Number.isInteger(r.maxIter) &&
    r.maxIter >= 0 &&
    Number.isInteger(r.memory) &&
    r.memory >= 1 &&
    Number.isInteger(r.maxLineSearch) &&
    r.maxLineSearch >= 1 &&
    0 < r.c1 &&
    r.c1 < r.c2 &&
    r.c2 < 1;
  if (!ok) {
    metricsError(
      `L-BFGS options out of range: ${JSON.stringify(r)}`,
      'metrics/bad-argument',
      'tolerances must be ≥ 0, iterations and memory whole numbers, and 0 < c1 < c2 < 1',
    );
  }
  return r;
}

/** The L-BFGS direction −H∇f by the two-loop recursion over the stored pairs (newest last). */
function direction(g: Float64Array, S: Float64Array[], Y: Float64Array[], rho: number[], out: Float64Array): void {
  const m = S.length;
  const alpha = new Float64Array(m);
  for (let i = 0; i < g.length; i++) out[i] = -g[i];
  for (let j = m - 1; j >= 0; j--) {
    alpha[j] = rho[j] * dot(S[j], out);
    const y = Y[j];
    for (let i = 0; i < out.length; i++) out[i] -= alpha[j] * y[i];
  }
  if (m > 0) {
    const gamma = dot(S[m - 1], Y[m - 1]) / dot(Y[m - 1], Y[m - 1]);
    for (let i = 0; i < out.length; i++) out[i] *= gamma;
  }
  for (let j = 0; j < m; j++) {
    const beta = rho[j] * dot(Y[j], out);
    const s = S[j],
      c = alpha[j] - beta;
    for (let i = 0; i < out.length; i++) out[i] += c * s[i];
  }
}

/** One line search along `dir` from x: true with xNew, gNew, f at the accepted step, false after maxEval evaluations. */
function lineSearch(
  fg: Objective,
  at: { x: Float64Array; f: number; d0: number; dir: Float64Array; stp: number },
  xNew: Float64Array,
  gNew: Float64Array,
  o: { c1: number; c2: number; maxLineSearch: number },
): { ok: boolean; f: number; evaluations: number } {
  const { x, dir } = at;
  const ls = new MoreThuente(at.f, at.d0, at.stp, { c1: o.c1, c2: o.c2, stpmax: 1e10 });
  for (let e = 1; e <= o.maxLineSearch; e++) {
    const stp = ls.stp;
    for (let i = 0; i < x.length; i++) xNew[i] = x[i] + stp * dir[i];
    const f = fg(xNew, gNew);
    if (!Number.isFinite(f)) {
      ls.stp = stp / 10; // overflow at this step: try a shorter one
      continue;
    }
    if (ls.next(f, dot(gNew, dir)) === 'done') return { ok: true, f, evaluations: e };
  }
  return { ok: false, f: at.f, evaluations: o.maxLineSearch };
}

/**
 * Minimise `fg` from `x0` by L-BFGS, following scipy's L-BFGS-B on an unconstrained problem:
 * the first step has length 1/‖∇f‖ along −∇f, later ones start at the unit step; a pair is
 * skipped when sᵀy ≤ eps · (−∇fᵀs); a failed line search restarts from steepest descent once the
 * memory is cleared, and ends the run when the memory is already empty.
 */
export function lbfgs(fg: Objective, x0: Float64Array, opts: LbfgsOptions = {}): LbfgsResult {
  const o = options(opts);
  const n = x0.length;
  let x = Float64Array.from(x0),
    g = new Float64Array(n),
    xNew = new Float64Array(n),
    gNew = new Float64Array(n);
  const dir = new Float64Array(n);
  let f = fg(x, g);
  let evaluations = 1;
  const S: Float64Array[] = [],
    Y: Float64Array[] = [],
    rho: number[] = [];
  let status: LbfgsStatus = 'max-iter';
  let iterations = 0;
  if (!Number.isFinite(f)) {
    metricsError(`the objective is ${f} at the starting point`, 'metrics/not-finite', 'start from finite parameters');
  }
  if (maxAbs(g) <= o.gtol) status = 'gradient';
  while (status === 'max-iter' && iterations < o.maxIter) {
    direction(g, S, Y, rho, dir);
    let d0 = dot(g, dir);
    if (!(d0 < 0) && S.length > 0) {
      S.length = Y.length = rho.length = 0;
      direction(g, S, Y, rho, dir);
      d0 = dot(g, dir);
    }
    const stp = iterations === 0 ? 1 / Math.sqrt(dot(dir, dir)) : 1;
    const ls = d0 < 0 ? lineSearch(fg, { x, f, d0, dir, stp }, xNew, gNew, o) : { ok: false, f, evaluations: 0 };
    evaluations += ls.evaluations;
    if (!ls.ok) {
      if (S.length === 0) {
        status = 'line-search';
        break;
      }
      S.length = Y.length = rho.length = 0; // refresh the memory and retry along −∇f
      continue;
    }
    iterations++;
    const s = S.length === o.memory ? S.shift()! : new Float64Array(n);
    const y = Y.length === o.memory ? Y.shift()! : new Float64Array(n);
    if (rho.length === o.memory) rho.shift();
    let sy = 0,
      gs = 0;
    for (let i = 0; i < n; i++) {
      s[i] = xNew[i] - x[i];
      y[i] = gNew[i] - g[i];
      sy += s[i] * y[i];
      gs += g[i] * s[i];
    }
    if (sy > EPS * -gs) {
      S.push(s);
      Y.push(y);
      rho.push(1 / sy);
    }
    const fPrev = f;
    [x, xNew] = [xNew, x];
    [g, gNew] = [gNew, g];
    f = ls.f;
    const gradMax = maxAbs(g);
    opts.onIteration?.({ iteration: iterations, f, gradMax });
    if (gradMax <= o.gtol) status = 'gradient';
    else if ((fPrev - f) / Math.max(Math.abs(fPrev), Math.abs(f), 1) <= o.ftol) status = 'decrease';
  }
  const gradMax = maxAbs(g);
  return { x, f, gradMax, iterations, evaluations, status, converged: status === 'gradient' || status === 'decrease' };
}
