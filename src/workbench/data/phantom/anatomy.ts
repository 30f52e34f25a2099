import type { Rng } from '../../util/rng.js';
import {
  Canvas,
  type Pose,
  type Sdf,
  type Field,
  ellipse,
  circle,
  capsule,
  box,
  wobbly,
  randomHarmonics,
  union,
  intersect,
  subtract,
  shell,
  halfPlane,
  valueNoise,
} from './raster.js';

/**
 * The phantom's anatomy and lesions, one drawer per modality/region. Every random choice comes
 * from the image's own Rng, in a fixed order, so an image depends only on (class, seed, size).
 */

const U = (rng: Rng, a: number, b: number): number => a + (b - a) * rng.next();
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(xs.length)];
const sign = (rng: Rng): number => (rng.next() < 0.5 ? -1 : 1);
const outside =
  (s: Sdf): Sdf =>
  (x, y) =>
    -s(x, y);

/** A point inside ellipse (cx, cy, rx, ry) at most `f` of the way to its edge. */
function pointIn(rng: Rng, cx: number, cy: number, rx: number, ry: number, f: number): [number, number] {
  const a = 2 * Math.PI * rng.next();
  const r = f * Math.sqrt(rng.next());
  return [cx + rx * r * Math.cos(a), cy + ry * r * Math.sin(a)];
}

interface RegionDrawer {
  /** Range of the random pose: rotation (rad), zoom, shift. */
  pose: { angle: number; zoom: [number, number]; shift: number };
  background: number;
  /** Paint anatomy and lesion; may return a mask (1 inside the field of view) applied last. */
  draw(cv: Canvas, rng: Rng, label: string): Float32Array | void;
  /** Modality-specific acquisition effects (noise, bias, speckle). */
  acquire(cv: Canvas, rng: Rng): void;
}

// ---------------------------------------------------------------------------------------------
// CT

function ctNoise(cv: Canvas, rng: Rng): void {
  cv.gaussianNoise(rng, U(rng, 0.008, 0.03));
}

const ctHead: RegionDrawer = {
  pose: { angle: 0.14, zoom: [0.9, 1.05], shift: 0.06 },
  background: 0.02,
  acquire: ctNoise,
  draw(cv, rng, label) {
    const rx = U(rng, 0.68, 0.78);
    const ry = U(rng, 0.84, 0.92);
    const t = U(rng, 0.07, 0.1);
    const skull = ellipse(0, 0, rx, ry);
    const brain = ellipse(0, 0, rx - t, ry - t);
    const tex = valueNoise(rng, 9);
    cv.paint(ellipse(0, 0, rx + 0.05, ry + 0.05), 0.36);
    cv.paint(skull, 0.96);
    cv.paint(brain, (x, y) => 0.5 + 0.02 * tex(x, y));
    cv.paint(wobbly(0, 0.02, (rx - t) * 0.72, (ry - t) * 0.74, 0, randomHarmonics(rng, 6, 12, 0.08)), 0.45, {
      soft: 0.02,
    });
    const vs = U(rng, 0.75, 1.25);
    cv.paint(ellipse(-0.08, -0.05, 0.045 * vs, 0.2 * vs, -0.25), 0.2);
    cv.paint(ellipse(0.08, -0.05, 0.045 * vs, 0.2 * vs, 0.25), 0.2);
    cv.paint(capsule(0, -(ry - t), 0, -0.32, 0.008), 0.62);
    if (label === 'hemorrhage') {
      const [cx, cy] = pointIn(rng, 0, 0, rx - t, ry - t, 0.65);
      const r = U(rng, 0.07, 0.18);
      const asp = U(rng, 0.6, 1);
      const ang = Math.PI * rng.next();
      const bound = [cx, cy, r * 2] as const;
      cv.paint(ellipse(cx, cy, r * 1.5, r * asp * 1.5, ang), 0.4, { soft: 0.06, clip: brain, bound });
      cv.paint(wobbly(cx, cy, r, r * asp, ang, randomHarmonics(rng, 2, 4, 0.12)), U(rng, 0.72, 0.86), {
        soft: U(rng, 0.005, 0.02),
        clip: brain,
        bound,
      });
    } else if (label === 'fracture') {
      const a = 2 * Math.PI * rng.next();
      const ca = Math.cos(a);
      const sa = Math.sin(a);
      const px = ca * (rx - t / 2);
      const py = sa * (ry - t / 2);
      // scalp swelling outside the skull
      cv.paint(
        ellipse(ca * (rx + 0.05), sa * (ry + 0.05), U(rng, 0.1, 0.18), U(rng, 0.05, 0.09), a + Math.PI / 2),
        0.44,
        { soft: 0.02, clip: outside(skull) },
      );
      // the lucent fracture line through the bone
      const d = a + U(rng, -0.5, 0.5);
      const len = U(rng, 0.12, 0.2);
      const ringBone = subtract(skull, brain);
      cv.paint(
        capsule(
          px - Math.cos(d) * len,
          py - Math.sin(d) * len,
          px + Math.cos(d) * len,
          py + Math.sin(d) * len,
          U(rng, 0.015, 0.03),
        ),
        0.3,
        { clip: ringBone, bound: [px, py, len + 0.05] },
      );
      if (rng.next() < 0.5) {
        // depressed fragment pushed into the brain
        const q = a + U(rng, 0.06, 0.14) * sign(rng);
        const fx = Math.cos(q) * (rx - t * 1.7);
        const fy = Math.sin(q) * (ry - t * 1.7);
        const tl = U(rng, 0.05, 0.09);
        cv.paint(
          capsule(fx + Math.sin(q) * tl, fy - Math.cos(q) * tl, fx - Math.sin(q) * tl, fy + Math.cos(q) * tl, t * 0.35),
          0.9,
        );
      }
    }
  },
};

/** A lung of the chest drawers: its ellipse and its shape. */
interface Lung {
  cx: number;
  cy: number;
  rx: number;
  ry: number;
  s: Sdf;
}

/** CT chest: both lungs with their texture and vessels. */
function ctChestLungs(cv: Canvas, rng: Rng, cy: number, ry: number, k: number): Lung[] {
  const lungs: Lung[] = [];
  for (const side of [-1, 1]) {
    const l = {
      cx: side * 0.4 * k,
      cy: cy - 0.02,
      rx: U(rng, 0.26, 0.31) * k,
      ry: (ry - 0.15) * U(rng, 0.92, 1),
      s: null as unknown as Sdf,
    };
    l.s = ellipse(l.cx, l.cy, l.rx, l.ry, side * 0.15);
    lungs.push(l);
    const tex = valueNoise(rng, 12);
    cv.paint(l.s, (x, y) => 0.05 + 0.025 * Math.max(0, tex(x, y)));
    for (let v = 0; v < 7; v++) {
      const [vx, vy] = pointIn(rng, l.cx, l.cy, l.rx, l.ry, 0.85);
      cv.paint(circle(vx, vy, U(rng, 0.01, 0.022)), 0.32, { bound: [vx, vy, 0.05] });
    }
  }
  return lungs;
}

/** CT chest: heart, aorta, sternum, spine and the rib cross-sections. */
function ctChestMediastinum(cv: Canvas, rng: Rng, rx: number, ry: number, cy: number): void {
  cv.paint(ellipse(0.08, cy - 0.06, U(rng, 0.18, 0.23), U(rng, 0.2, 0.25), 0.5), 0.52);
  cv.paint(circle(0.1, cy + 0.3, 0.055), 0.54);
  cv.paint(ellipse(0, cy - ry + 0.06, 0.07, 0.03), 0.85);
  cv.paint(circle(0, cy + ry - 0.2, 0.1), 0.9);
  cv.paint(capsule(0, cy + ry - 0.12, 0, cy + ry - 0.03, 0.03), 0.85);
  for (let r = 0; r < 6; r++) {
    for (const side of [-1, 1]) {
      const a = -Math.PI / 2 + side * (0.45 + r * 0.42);
      const x = Math.cos(a) * (rx - 0.1);
      const y = cy + Math.sin(a) * (ry - 0.1);
      cv.paint(circle(x, y, 0.025), 0.85, { bound: [x, y, 0.05] });
    }
  }
}

/** CT chest lesions: nodule, effusion or consolidation. */
function ctChestLesion(cv: Canvas, rng: Rng, label: string, lungs: Lung[]): void {
  if (label === 'nodule') {
    const l = pick(rng, lungs);
    const [nx, ny] = pointIn(rng, l.cx, l.cy, l.rx, l.ry, 0.7);
    const r = U(rng, 0.035, 0.09);
    const shape = rng.next() < 0.35 ? wobbly(nx, ny, r, r, 0, randomHarmonics(rng, 5, 9, 0.3)) : circle(nx, ny, r);
    cv.paint(shape, U(rng, 0.42, 0.6), { soft: U(rng, 0.003, 0.02), clip: l.s, bound: [nx, ny, r * 1.6] });
  } else if (label === 'effusion') {
    const which = rng.next() < 0.25 ? lungs : [pick(rng, lungs)];
    for (const l of which) {
      const h = U(rng, 0.22, 0.5);
      cv.paint(intersect(l.s, ellipse(l.cx, l.cy + l.ry, l.rx * 1.2, 2 * h * l.ry)), U(rng, 0.34, 0.42), {
        soft: 0.01,
      });
    }
  } else if (label === 'consolidation') {
    ctChestConsolidation(cv, rng, lungs);
  }
}

/** CT chest consolidation: a patch of merged blobs with air bronchograms. */
function ctChestConsolidation(cv: Canvas, rng: Rng, lungs: Lung[]): void {
  const l = pick(rng, lungs);
  const [ccx, ccy] = pointIn(rng, l.cx, l.cy, l.rx, l.ry, 0.55);
  const blobs: Sdf[] = [];
  const n = 3 + rng.int(3);
  for (let b = 0; b < n; b++)
    blobs.push(
      ellipse(
        ccx + U(rng, -0.08, 0.08),
        ccy + U(rng, -0.1, 0.1),
        U(rng, 0.06, 0.13),
        U(rng, 0.06, 0.13),
        Math.PI * rng.next(),
      ),
    );
  const patch = union(...blobs);
  const tex = valueNoise(rng, 14);
  cv.paint(patch, (x, y) => 0.4 + 0.07 * tex(x, y), { soft: 0.035, clip: l.s });
  for (let b = 0; b < 2; b++) {
    const a = Math.PI * rng.next();
    const len = U(rng, 0.06, 0.12);
    cv.paint(
      capsule(
        ccx - Math.cos(a) * len,
        ccy - Math.sin(a) * len,
        ccx + Math.cos(a) * len,
        ccy + Math.sin(a) * len,
        0.011,
      ),
      0.08,
      { clip: intersect(patch, l.s) },
    );
  }
}

const ctChest: RegionDrawer = {
  pose: { angle: 0.1, zoom: [0.92, 1.06], shift: 0.06 },
  background: 0.02,
  acquire: ctNoise,
  draw(cv, rng, label) {
    const rx = U(rng, 0.84, 0.94);
    const ry = U(rng, 0.56, 0.66);
    const cy = 0.02;
    const k = rx / 0.9;
    cv.paint(box(0, cy + ry + 0.12, 0.95, 0.025), 0.3);
    cv.paint(ellipse(0, cy, rx, ry), 0.32);
    cv.paint(ellipse(0, cy, rx - 0.06, ry - 0.06), 0.46);
    const lungs = ctChestLungs(cv, rng, cy, ry, k);
    ctChestMediastinum(cv, rng, rx, ry, cy);
    ctChestLesion(cv, rng, label, lungs);
  },
};

const ctAbdomen: RegionDrawer = {
  pose: { angle: 0.1, zoom: [0.92, 1.06], shift: 0.06 },
  background: 0.02,
  acquire: ctNoise,
  draw(cv, rng, label) {
    const rx = U(rng, 0.84, 0.93);
    const ry = U(rng, 0.64, 0.74);
    const k = rx / 0.9;
    cv.paint(box(0, ry + 0.12, 0.95, 0.025), 0.3);
    cv.paint(ellipse(0, 0, rx, ry), 0.3);
    cv.paint(ellipse(0, 0, rx - 0.06, ry - 0.06), 0.47);
    const inner = ellipse(0, 0, rx - 0.09, ry - 0.09);
    cv.paint(inner, 0.33);
    const tex = valueNoise(rng, 10);
    const liver = { cx: -0.32 * k, cy: -0.12, rx: U(rng, 0.34, 0.42) * k, ry: U(rng, 0.3, 0.38) };
    const liverS = wobbly(liver.cx, liver.cy, liver.rx, liver.ry, 0.3, randomHarmonics(rng, 2, 3, 0.08));
    cv.paint(liverS, (x, y) => 0.58 + 0.02 * tex(x, y), { clip: inner });
    cv.paint(ellipse(0.5 * k, -0.05, 0.11, U(rng, 0.16, 0.22), -0.4), 0.55, { clip: inner });
    const stomach = ellipse(0.22 * k, -0.32, U(rng, 0.15, 0.2), 0.12);
    cv.paint(stomach, 0.42, { clip: inner });
    cv.paint(intersect(stomach, halfPlane(0, -0.32 - U(rng, 0, 0.05), 0, 1)), 0.03, { clip: inner });
    cv.paint(capsule(-0.05, 0.06, 0.33 * k, -0.02, 0.04), 0.52);
    for (const side of [-1, 1]) {
      cv.paint(ellipse(side * 0.33 * k, 0.28, 0.09, 0.13, side * 0.35), 0.6);
      cv.paint(ellipse(side * 0.29 * k, 0.28, 0.035, 0.06, side * 0.35), 0.36);
      cv.paint(ellipse(side * 0.17, 0.42, 0.07, 0.09), 0.46);
    }
    cv.paint(circle(0, 0.44, 0.11), 0.9);
    cv.paint(circle(0.05, 0.24, 0.05), 0.6);
    cv.paint(ellipse(-0.12, 0.24, 0.06, 0.04), 0.55);
    const loops = 4 + rng.int(3);
    for (let b = 0; b < loops; b++) {
      const bx = U(rng, -0.2, 0.45) * k;
      const by = U(rng, 0.02, 0.2);
      const r = U(rng, 0.05, 0.08);
      cv.paint(circle(bx, by, r), 0.45, { bound: [bx, by, r + 0.02], clip: inner });
      if (rng.next() < 0.5) cv.paint(circle(bx, by, r * 0.45), 0.04, { bound: [bx, by, r] });
    }
    if (label === 'cyst') {
      const [cx, cy] = pointIn(rng, liver.cx, liver.cy, liver.rx, liver.ry, 0.5);
      const r = U(rng, 0.05, 0.12);
      cv.paint(circle(cx, cy, r), U(rng, 0.15, 0.26), { bound: [cx, cy, r + 0.03] });
      cv.paint(shell(circle(cx, cy, r), U(rng, 0.012, 0.022)), 0.68, { bound: [cx, cy, r + 0.03] });
    } else if (label === 'calcification') {
      const inKidney = rng.next() < 0.5;
      const side = sign(rng);
      const [gx, gy, spread] = inKidney ? [side * 0.33 * k, 0.28, 0.05] : [U(rng, 0, 0.28) * k, 0.03, 0.07];
      const n = 3 + rng.int(6);
      for (let c = 0; c < n; c++) {
        const x = gx + spread * rng.normal();
        const y = gy + spread * 0.6 * rng.normal();
        cv.paint(circle(x, y, U(rng, 0.022, 0.04)), U(rng, 0.9, 1.0), { bound: [x, y, 0.06] });
      }
    }
  },
};

// ---------------------------------------------------------------------------------------------
// MR

const mrBrain: RegionDrawer = {
  pose: { angle: 0.14, zoom: [0.9, 1.05], shift: 0.06 },
  background: 0,
  acquire(cv, rng) {
    const b1 = U(rng, -0.18, 0.18);
    const b2 = U(rng, -0.18, 0.18);
    const b3 = U(rng, -0.2, 0.1);
    cv.map((v, x, y) => v * (1 + b1 * x + b2 * y + b3 * (x * x + y * y)));
    cv.ricianNoise(rng, U(rng, 0.015, 0.045));
    const g = U(rng, 0.85, 1.15);
    cv.map((v) => v * g);
  },
  draw(cv, rng, label) {
    const rx = U(rng, 0.68, 0.77);
    const ry = U(rng, 0.83, 0.91);
    const tex = valueNoise(rng, 10);
    const intracranial = ellipse(0, 0, rx, ry);
    cv.paint(ellipse(0, 0, rx + 0.07, ry + 0.07), 0.72);
    cv.paint(ellipse(0, 0, rx + 0.035, ry + 0.035), 0.1);
    cv.paint(intracranial, 0.22);
    cv.paint(
      wobbly(0, 0, rx - 0.025, ry - 0.025, 0, randomHarmonics(rng, 8, 14, 0.04)),
      (x, y) => 0.46 + 0.02 * tex(x, y),
    );
    cv.paint(
      wobbly(0, 0.02, rx * 0.74, ry * 0.76, 0, randomHarmonics(rng, 5, 11, 0.12)),
      (x, y) => 0.66 + 0.02 * tex(x, y),
      { soft: 0.015 },
    );
    for (const side of [-1, 1]) cv.paint(ellipse(side * 0.12, 0.12, 0.07, 0.09), 0.54);
    const vs = U(rng, 0.75, 1.3);
    cv.paint(ellipse(-0.08, -0.05, 0.045 * vs, 0.2 * vs, -0.25), 0.16);
    cv.paint(ellipse(0.08, -0.05, 0.045 * vs, 0.2 * vs, 0.25), 0.16);
    cv.paint(capsule(0, -ry, 0, -0.34, 0.012), 0.22);
    if (label === 'glioma') {
      const [cx, cy] = pointIn(rng, 0, 0.02, rx * 0.74, ry * 0.76, 0.6);
      const r = U(rng, 0.09, 0.2);
      const h = randomHarmonics(rng, 2, 5, 0.25);
      const ang = Math.PI * rng.next();
      const asp = U(rng, 0.75, 1);
      const th = U(rng, 0.025, 0.05);
      const mass = wobbly(cx, cy, r, r * asp, ang, h);
      const bound = [cx, cy, r * 2.4] as const;
      cv.paint(wobbly(cx, cy, r * U(rng, 1.5, 2), r * asp * 1.6, ang, randomHarmonics(rng, 2, 6, 0.3)), 0.36, {
        soft: 0.06,
        clip: intracranial,
        bound,
      });
      cv.paint(mass, U(rng, 0.15, 0.28), { bound });
      cv.paint(shell(mass, th), U(rng, 0.8, 0.95), { soft: 0.01, bound });
    } else if (label === 'meningioma') {
      const a = 2 * Math.PI * rng.next();
      const r = U(rng, 0.09, 0.18);
      const bx = Math.cos(a) * (rx - 0.01);
      const by = Math.sin(a) * (ry - 0.01);
      const dIn = r * U(rng, 0.3, 0.6);
      const cx = bx - Math.cos(a) * dIn;
      const cy = by - Math.sin(a) * dIn;
      const tl = r * 1.6;
      cv.paint(
        capsule(bx - Math.sin(a) * tl, by + Math.cos(a) * tl, bx + Math.sin(a) * tl, by - Math.cos(a) * tl, 0.014),
        0.8,
        { clip: intracranial },
      );
      cv.paint(circle(cx, cy, r), U(rng, 0.76, 0.92), { soft: 0.012, clip: intracranial, bound: [cx, cy, r + 0.05] });
    }
  },
};

// ---------------------------------------------------------------------------------------------
// XR

function xrAcquire(cv: Canvas, rng: Rng): void {
  cv.blur(1);
  cv.gaussianNoise(rng, U(rng, 0.006, 0.02));
}

/** A lung of the chest radiograph: which side it is on as well. */
interface XrLung extends Lung {
  side: number;
}

/** XR chest: arms, soft tissue, neck and shoulders. */
function xrChestWall(cv: Canvas, w: number): void {
  for (const side of [-1, 1]) cv.paint(capsule(side * (w + 0.08), -0.7, side * (w + 0.14), 1.5, 0.15), 0.42);
  cv.paint(box(0, 0.5, w, 1.32, 0, 0.42), 0.45);
  cv.paint(capsule(0, -1.3, 0, -0.7, 0.2), 0.45);
  for (const side of [-1, 1]) cv.paint(circle(side * (w + 0.03), -0.66, 0.13), 0.66, { soft: 0.02 });
}

/** XR chest: both lung fields with texture and hilar vessels. */
function xrChestLungs(cv: Canvas, rng: Rng, w: number): XrLung[] {
  const lungs: XrLung[] = [];
  for (const side of [-1, 1]) {
    const l = {
      cx: side * U(rng, 0.36, 0.42) * w,
      cy: -0.06,
      rx: U(rng, 0.25, 0.3) * w,
      ry: U(rng, 0.54, 0.62),
      side,
      s: null as unknown as Sdf,
    };
    l.s = union(
      ellipse(l.cx, l.cy, l.rx, l.ry, -side * 0.08),
      ellipse(l.cx + side * 0.06, l.cy + 0.25, l.rx * 0.85, l.ry * 0.62),
    );
    lungs.push(l);
    const tex = valueNoise(rng, 12);
    const hx = side * 0.16;
    cv.paint(l.s, (x, y) => 0.13 + 0.035 * tex(x, y) + 0.1 * Math.exp(-((x - hx) ** 2 + (y + 0.02) ** 2) / 0.02), {
      soft: 0.02,
    });
  }
  return lungs;
}

/** XR chest: spine, trachea, heart, aortic knob and the spine's midline band. */
function xrChestMediastinum(cv: Canvas, rng: Rng): void {
  cv.paint(capsule(0, -0.78, 0, 0.35, 0.12), 0.6);
  cv.paint(capsule(0, -1.0, 0, -0.38, 0.03), 0.32);
  const hr = U(rng, 0.26, 0.33);
  cv.paint(ellipse(0.1, 0.32, hr, hr * 0.82, -0.2), 0.62, { soft: 0.02 });
  cv.paint(circle(0.12, -0.36, 0.07), 0.6);
  cv.paint(box(0, 0.1, 0.05, 1.3), 0.07, { mode: 'add' });
}

/** XR chest: ribs and clavicles, added over the thorax. */
function xrChestRibs(cv: Canvas, w: number): void {
  const thorax = box(0, -0.02, w - 0.03, 0.78, 0, 0.3);
  for (const side of [-1, 1]) {
    for (let r = 0; r < 8; r++) {
      const yk = -0.78 + r * 0.17;
      cv.paint(
        intersect(
          shell(ellipse(side * 0.05, yk + 0.45, 0.72, 0.45), 0.035),
          halfPlane(side * 0.07, 0, -side, 0),
          halfPlane(0, yk + 0.38, 0, 1),
        ),
        0.1,
        { mode: 'add', clip: thorax, bound: [side * 0.4, yk + 0.2, 0.65] },
      );
    }
    cv.paint(capsule(side * 0.08, -0.66, side * 0.6, -0.79, 0.03), 0.2, { mode: 'add' });
  }
}

/** XR chest lesions: pneumonia, effusion or nodule. */
function xrChestLesion(cv: Canvas, rng: Rng, label: string, lungs: XrLung[]): void {
  if (label === 'pneumonia') {
    xrChestPneumonia(cv, rng, lungs);
  } else if (label === 'effusion') {
    const l = pick(rng, lungs);
    const bottom = l.cy + 0.25 + l.ry * 0.62;
    const top = bottom - U(rng, 0.2, 0.45) * 2 * l.ry;
    const m = U(rng, 0.05, 0.16);
    const level: Sdf = (x, y) => {
      let t = ((x - l.cx) * l.side + l.rx) / (2 * l.rx);
      t = t < 0 ? 0 : t > 1 ? 1 : t;
      return top - m * t * t - y;
    };
    cv.paint(intersect(l.s, level), U(rng, 0.42, 0.5), { soft: 0.02 });
  } else if (label === 'nodule') {
    const l = pick(rng, lungs);
    const [nx, ny] = pointIn(rng, l.cx, l.cy, l.rx, l.ry, 0.75);
    const r = U(rng, 0.035, 0.08);
    cv.paint(circle(nx, ny, r), U(rng, 0.18, 0.3), {
      mode: 'add',
      soft: 0.015,
      clip: l.s,
      bound: [nx, ny, r + 0.04],
    });
  }
}

/** XR chest pneumonia: a soft patchy opacity added inside one lung. */
function xrChestPneumonia(cv: Canvas, rng: Rng, lungs: XrLung[]): void {
  const l = pick(rng, lungs);
  const cx = l.cx + U(rng, -0.4, 0.4) * l.rx;
  const cy = l.cy + U(rng, -0.1, 0.6) * l.ry;
  const blobs: Sdf[] = [];
  const n = 2 + rng.int(3);
  for (let b = 0; b < n; b++)
    blobs.push(
      ellipse(
        cx + U(rng, -0.1, 0.1),
        cy + U(rng, -0.12, 0.12),
        U(rng, 0.1, 0.2),
        U(rng, 0.08, 0.18),
        Math.PI * rng.next(),
      ),
    );
  const tex = valueNoise(rng, 16);
  const dens = U(rng, 0.16, 0.3);
  cv.paint(union(...blobs), (x, y) => dens * (0.65 + 0.35 * tex(x, y)), { mode: 'add', soft: 0.08, clip: l.s });
}

const xrChest: RegionDrawer = {
  pose: { angle: 0.06, zoom: [0.9, 1.04], shift: 0.05 },
  background: 0.03,
  acquire: xrAcquire,
  draw(cv, rng, label) {
    const w = U(rng, 0.86, 0.96);
    xrChestWall(cv, w);
    const lungs = xrChestLungs(cv, rng, w);
    xrChestMediastinum(cv, rng);
    xrChestRibs(cv, w);
    // a multi-label image (`effusion+nodule`, data/multilabel.ts) draws each finding in turn
    for (const finding of label.split('+')) xrChestLesion(cv, rng, finding, lungs);
  },
};

interface Bone {
  ax: number;
  ay: number;
  bx: number;
  by: number;
  ra: number;
  rb: number;
}

/** A finger (or the thumb) ray: base point, angle from vertical and length. */
interface Ray {
  bx: number;
  by: number;
  a: number;
  L: number;
}

/** XR hand: forearm, palm, fingers and thumb soft tissue; returns the finger and thumb rays. */
function handSoftTissue(cv: Canvas, rng: Rng, X: (x: number) => number, dy: number): { fingers: Ray[]; thumb: Ray } {
  const soft = 0.3;
  cv.paint(capsule(0, 1.4, 0, 0.68 + dy, 0.3, 0.28), soft);
  cv.paint(box(0, 0.22 + dy, 0.3, 0.3, 0, 0.12), soft);
  const spread = U(rng, 0.6, 1.4);
  const fingers: Ray[] = [];
  const lens = [0.62, 0.68, 0.62, 0.5];
  for (let i = 0; i < 4; i++) {
    const f = {
      bx: -0.21 + 0.14 * i,
      by: -0.05 + dy,
      a: (-0.12 + 0.08 * i) * spread,
      L: lens[i] * U(rng, 0.94, 1.06),
    };
    fingers.push(f);
    cv.paint(capsule(X(f.bx), f.by, X(f.bx + f.L * Math.sin(f.a)), f.by - f.L * Math.cos(f.a), 0.065, 0.055), soft);
  }
  const ta = -0.75 * U(rng, 0.8, 1.2);
  const thumb = { bx: -0.3, by: 0.33 + dy, a: ta, L: 0.48 };
  cv.paint(
    capsule(
      X(thumb.bx),
      thumb.by,
      X(thumb.bx + thumb.L * Math.sin(ta)),
      thumb.by - thumb.L * Math.cos(ta),
      0.075,
      0.06,
    ),
    soft,
  );
  return { fingers, thumb };
}

/** XR hand: the bones as capsules (radius, ulna, then per finger metacarpal and 3 phalanges, then the thumb). */
function handSkeleton(X: (x: number) => number, dy: number, fingers: Ray[], thumb: Ray): Bone[] {
  const bones: Bone[] = [];
  const ta = thumb.a;
  bones.push({ ax: X(-0.12), ay: 1.4, bx: X(-0.12), by: 0.66 + dy, ra: 0.085, rb: 0.1 });
  bones.push({ ax: X(0.13), ay: 1.4, bx: X(0.12), by: 0.68 + dy, ra: 0.055, rb: 0.055 });
  for (const f of fingers) {
    bones.push({ ax: X(f.bx * 0.75), ay: 0.36 + dy, bx: X(f.bx), by: f.by + 0.02, ra: 0.037, rb: 0.035 });
    const parts = [0.45, 0.3, 0.25];
    const radii = [0.033, 0.028, 0.024];
    let s = 0.02;
    for (let p = 0; p < 3; p++) {
      const e = s + parts[p] * f.L * 0.9;
      bones.push({
        ax: X(f.bx + s * Math.sin(f.a)),
        ay: f.by - s * Math.cos(f.a),
        bx: X(f.bx + (e - 0.03) * Math.sin(f.a)),
        by: f.by - (e - 0.03) * Math.cos(f.a),
        ra: radii[p],
        rb: radii[p] * 0.9,
      });
      s = e + 0.02;
    }
  }
  bones.push({
    ax: X(-0.17),
    ay: 0.42 + dy,
    bx: X(thumb.bx + 0.12 * Math.sin(ta)),
    by: thumb.by - 0.12 * Math.cos(ta),
    ra: 0.04,
    rb: 0.037,
  });
  for (let p = 0; p < 2; p++) {
    const s = 0.16 + p * 0.17;
    bones.push({
      ax: X(thumb.bx + s * Math.sin(ta)),
      ay: thumb.by - s * Math.cos(ta),
      bx: X(thumb.bx + (s + 0.13) * Math.sin(ta)),
      by: thumb.by - (s + 0.13) * Math.cos(ta),
      ra: 0.034,
      rb: 0.03,
    });
  }
  return bones;
}

/** XR hand fracture: paint the swelling and split one bone into two displaced fragments (in `bones`). */
function handFracture(cv: Canvas, rng: Rng, bones: Bone[]): void {
  const u = rng.next();
  // radius (distal, Colles-like) / a metacarpal / a proximal phalanx
  const idx = u < 0.5 ? 0 : u < 0.8 ? 2 + 4 * rng.int(4) : 3 + 4 * rng.int(4);
  const b = bones[idx];
  const t = idx === 0 ? U(rng, 0.75, 0.9) : U(rng, 0.35, 0.65);
  const len = Math.hypot(b.bx - b.ax, b.by - b.ay);
  const ux = (b.bx - b.ax) / len;
  const uy = (b.by - b.ay) / len;
  const gap = U(rng, 0.018, 0.035);
  const off = U(rng, 0.012, 0.04) * sign(rng);
  const ang = U(rng, -0.25, 0.25);
  const px = b.ax + ux * len * t;
  const py = b.ay + uy * len * t;
  const rm = b.ra + (b.rb - b.ra) * t;
  cv.paint(circle(px, py, rm * 3.2), 0.35, { soft: 0.06, bound: [px, py, rm * 4] });
  const c = Math.cos(ang);
  const s = Math.sin(ang);
  const rest = len * (1 - t) - gap / 2;
  const dux = c * ux - s * uy;
  const duy = s * ux + c * uy;
  const sx = px + (ux * gap) / 2 - uy * off;
  const sy = py + (uy * gap) / 2 + ux * off;
  bones.splice(
    idx,
    1,
    { ax: b.ax, ay: b.ay, bx: px - (ux * gap) / 2, by: py - (uy * gap) / 2, ra: b.ra, rb: rm },
    { ax: sx, ay: sy, bx: sx + dux * rest, by: sy + duy * rest, ra: rm, rb: b.rb },
  );
}

/** XR hand: paint the bones, then the carpal bones. */
function handBones(cv: Canvas, rng: Rng, X: (x: number) => number, dy: number, bones: Bone[]): void {
  for (const b of bones)
    cv.paint(capsule(b.ax, b.ay, b.bx, b.by, b.ra, b.rb), 0.74, {
      bound: [
        (b.ax + b.bx) / 2,
        (b.ay + b.by) / 2,
        Math.hypot(b.bx - b.ax, b.by - b.ay) / 2 + Math.max(b.ra, b.rb) + 0.02,
      ],
    });
  for (const [x, y] of [
    [-0.15, 0.52],
    [-0.05, 0.53],
    [0.05, 0.53],
    [0.15, 0.51],
    [-0.16, 0.41],
    [-0.06, 0.42],
    [0.05, 0.42],
    [0.15, 0.41],
  ]) {
    cv.paint(circle(X(x), y + dy, U(rng, 0.048, 0.058)), 0.7, { bound: [X(x), y + dy, 0.08] });
  }
}

const xrHand: RegionDrawer = {
  pose: { angle: 0.22, zoom: [0.95, 1.08], shift: 0.05 },
  background: 0.04,
  acquire: xrAcquire,
  draw(cv, rng, label) {
    const m = sign(rng); // left or right hand
    const X = (x: number) => m * x;
    const dy = -0.12;
    const { fingers, thumb } = handSoftTissue(cv, rng, X, dy);
    const bones = handSkeleton(X, dy, fingers, thumb);
    if (label === 'fracture') handFracture(cv, rng, bones);
    handBones(cv, rng, X, dy, bones);
  },
};

const xrKnee: RegionDrawer = {
  pose: { angle: 0.1, zoom: [0.92, 1.06], shift: 0.06 },
  background: 0.04,
  acquire: xrAcquire,
  draw(cv, rng, label) {
    const m = sign(rng);
    const X = (x: number) => m * x;
    const bone = 0.7;
    cv.paint(capsule(0, -1.5, 0, 1.5, U(rng, 0.5, 0.58), U(rng, 0.44, 0.5)), 0.3);
    // femur
    cv.paint(capsule(0, -1.5, 0, -0.4, 0.16, 0.2), bone);
    cv.paint(box(0, -0.3, 0.34, 0.12, 0, 0.1), bone);
    for (const side of [-1, 1]) cv.paint(circle(side * 0.18, -0.24, 0.18), bone);
    cv.paint(ellipse(0, -0.09, 0.055, 0.08), 0.42);
    cv.paint(capsule(0, -1.5, 0, -0.55, 0.09), 0.6, { soft: 0.03 });
    cv.paint(circle(0, -0.3, 0.14), 0.08, { mode: 'add', soft: 0.02 });
    // fibula then tibia
    const gap = label === 'osteoarthritis' ? 0 : U(rng, 0.065, 0.095);
    const top = -0.06 + gap;
    cv.paint(circle(X(0.36), top + 0.26, 0.07), 0.68);
    cv.paint(capsule(X(0.36), top + 0.3, X(0.32), 1.5, 0.045), 0.66);
    cv.paint(box(0, top + 0.08, 0.38, 0.08, 0, 0.04), bone);
    for (const side of [-1, 1]) cv.paint(circle(side * 0.04, top, 0.035), bone);
    cv.paint(capsule(0, top + 0.13, 0, 1.5, 0.22, 0.15), bone);
    cv.paint(capsule(0, top + 0.4, 0, 1.5, 0.09), 0.6, { soft: 0.03 });
    if (label === 'osteoarthritis') {
      // narrowed medial compartment, wider lateral one, subchondral sclerosis, marginal spurs
      const medGap = U(rng, 0.008, 0.03);
      const latGap = U(rng, 0.04, 0.08);
      cv.paint(box(X(-0.2), -0.06 + medGap / 2, 0.16, medGap / 2), 0.3);
      cv.paint(box(X(0.2), -0.06 + latGap / 2, 0.16, latGap / 2), 0.3);
      cv.paint(box(X(-0.2), -0.06 + medGap + 0.018, 0.17, 0.018), U(rng, 0.86, 0.95));
      cv.paint(box(X(0.2), -0.06 + latGap + 0.012, 0.17, 0.012), U(rng, 0.76, 0.86));
      for (const side of [-1, 1]) {
        const r1 = U(rng, 0.025, 0.05);
        cv.paint(circle(side * 0.39, -0.05, r1), 0.82, { bound: [side * 0.39, 0, 0.1] });
        const r2 = U(rng, 0.02, 0.04);
        cv.paint(circle(side * 0.36, -0.15, r2), 0.8, { bound: [side * 0.36, -0.15, 0.08] });
      }
    }
  },
};

// ---------------------------------------------------------------------------------------------
// US

const usBreast: RegionDrawer = {
  pose: { angle: 0.04, zoom: [0.95, 1.05], shift: 0.03 },
  background: 0,
  acquire() {
    /* speckle and the fan mask are part of draw, they depend on its geometry */
  },
  draw(cv, rng, label) {
    const ax = 0;
    const ay = -1.25;
    const r0 = 0.28;
    const half = U(rng, 0.5, 0.62);
    const radius = (x: number, y: number): number => Math.sqrt((x - ax) * (x - ax) + (y - ay) * (y - ay));
    const angle = (x: number, y: number): number => Math.atan2(x - ax, y - ay);
    const fan: Sdf = (x, y) => {
      const r = radius(x, y);
      return Math.max(r0 - r, r - 2.4, (Math.abs(angle(x, y)) - half) * r);
    };
    const n1 = valueNoise(rng, 6);
    const n2 = valueNoise(rng, 6);
    const tex = valueNoise(rng, 18);
    const lob = valueNoise(rng, 9);
    const b2m = U(rng, 0.16, 0.28);
    const b3m = b2m + U(rng, 0.42, 0.65);
    const b4m = b3m + U(rng, 0.1, 0.2);
    const b5m = b4m + U(rng, 0.18, 0.28);
    const ramp = (d: number, b: number) => {
      const t = (d - b) / 0.04 + 0.5;
      return t <= 0 ? 0 : t >= 1 ? 1 : t * t * (3 - 2 * t);
    };
    const tissue: Field = (x, y) => {
      const r = radius(x, y);
      const th = angle(x, y);
      const d = r - r0;
      const b2 = b2m + 0.05 * n1(th * 2, 0);
      const b3 = b3m + 0.1 * n2(th * 2, 0.5);
      const fat = 0.28 + 0.08 * lob(x, y);
      let v = 0.8;
      v += (fat - v) * ramp(d, 0.035);
      v += (0.6 + 0.12 * tex(x, y) - v) * ramp(d, b2);
      v += (fat - v) * ramp(d, b3);
      v += (0.45 + 0.08 * Math.sin(d * 45 + th * 3) - v) * ramp(d, b4m);
      v += (0.85 - v) * ramp(d, b5m);
      v += (0.18 - v) * ramp(d, b5m + 0.04);
      return v;
    };
    cv.paint(fan, tissue);
    const thc = U(rng, -0.6, 0.6) * half;
    const dc = U(rng, b2m + 0.12, b3m - 0.05);
    const rc = r0 + dc;
    const cx = ax + rc * Math.sin(thc);
    const cy = ay + rc * Math.cos(thc);
    const behind =
      (hw: number): Sdf =>
      (x, y) => {
        const r = radius(x, y);
        return Math.max(Math.abs(angle(x, y) - thc) * r - hw, rc - r);
      };
    if (label === 'benign') {
      const rx = U(rng, 0.11, 0.2);
      const ry = rx * U(rng, 0.5, 0.7);
      cv.paint(behind(rx * 0.85), U(rng, 1.25, 1.5), { mode: 'mul', soft: 0.05, clip: fan });
      cv.paint(ellipse(cx, cy, rx, ry, -thc), U(rng, 0.1, 0.18), {
        soft: U(rng, 0.005, 0.015),
        bound: [cx, cy, rx + 0.03],
      });
    } else if (label === 'malignant') {
      const rx = U(rng, 0.08, 0.14);
      const ry = rx * U(rng, 1.1, 1.5);
      const mass = wobbly(cx, cy, rx, ry, -thc, randomHarmonics(rng, 3, 12, 0.35, 0.3));
      cv.paint(behind(rx * 0.9), U(rng, 0.25, 0.5), { mode: 'mul', soft: 0.05, clip: fan });
      cv.paint(shell(mass, 0.05), 0.62, { soft: 0.02, bound: [cx, cy, ry * 1.6] });
      cv.paint(mass, U(rng, 0.04, 0.1), { soft: 0.006, bound: [cx, cy, ry * 1.6] });
    }
    cv.speckle(rng, U(rng, 0.6, 0.85), Math.max(1, Math.round(cv.size / 64)));
    const att = U(rng, 0.25, 0.5);
    const gain = U(rng, 0.9, 1.2);
    // depth attenuation and gain; black outside the fan (the mask is applied after the global contrast)
    cv.map((v, x, y) => v * gain * Math.exp(-att * Math.max(0, radius(x, y) - r0)));
    const mask = new Canvas(cv.size, cv.pose, 0);
    mask.paint(fan, 1);
    return mask.data;
  },
};

/** Drawers by `MODALITY/region`. */
export const REGIONS: Record<string, RegionDrawer> = {
  'CT/head': ctHead,
  'CT/chest': ctChest,
  'CT/abdomen': ctAbdomen,
  'MR/brain': mrBrain,
  'XR/chest': xrChest,
  'XR/hand': xrHand,
  'XR/knee': xrKnee,
  'US/breast': usBreast,
};

/**
 * Render one image of `MODALITY/region/label` as 8-bit grey levels (size × size, row-major):
 * random pose, the region's anatomy and lesion, acquisition effects, then a random global
 * contrast (gamma, gain, offset). Pure: depends only on the arguments and the Rng state.
 */
export function renderGray(modality: string, region: string, label: string, rng: Rng, size: number): Uint8Array {
  const drawer = REGIONS[`${modality}/${region}`];
  if (!drawer) throw new Error(`no phantom drawer for ${modality}/${region}`);
  const p = drawer.pose;
  const pose: Pose = {
    angle: U(rng, -p.angle, p.angle),
    scale: U(rng, p.zoom[0], p.zoom[1]),
    tx: U(rng, -p.shift, p.shift),
    ty: U(rng, -p.shift, p.shift),
  };
  const cv = new Canvas(size, pose, drawer.background);
  const mask = drawer.draw(cv, rng, label);
  drawer.acquire(cv, rng);
  const gamma = U(rng, 0.85, 1.18);
  const gain = U(rng, 0.88, 1.12);
  const offset = U(rng, -0.03, 0.04);
  cv.map((v) => (v <= 0 ? 0 : Math.pow(v, gamma)) * gain + offset);
  if (mask) for (let p = 0; p < mask.length; p++) cv.data[p] *= mask[p];
  return cv.toBytes();
}
