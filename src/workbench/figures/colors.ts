/**
 * Colours shared by every figure, so a model, a modality or a class kind has the same colour in
 * every plot of a report.
 */
import type { ClassKind } from '../data/manifest.js';

/** Anatomical (a region's normal class) vs pathological classes (study Fig. 5). */
export const KIND_COLORS: Readonly<Record<ClassKind, string>> = { anatomical: '#1f77b4', pathological: '#d62728' };

/** Query grids (study Fig. 3): the query, a match of the same class, a match of another class. */
export const GRID_COLORS = { query: '#ff8c00', match: '#1fa824', mismatch: '#e0201b', neutral: '#8a8a8a' } as const;

/** Fixed colours of the study's modalities; others take the palette. */
export const MODALITY_COLORS: Readonly<Record<string, string>> = {
  CT: '#1f77b4',
  MR: '#ff7f0e',
  XR: '#2ca02c',
  US: '#9467bd',
  MG: '#8c564b',
  PET: '#e377c2',
  NM: '#7f7f7f',
};

/**
 * A categorical palette of 24 distinct colours: Tableau 10 (so the first models keep their usual
 * colours), then 14 colours picked greedily from the sRGB grid (steps of 15) to maximise the
 * smallest CIEDE2000 distance to those before, with lightness 25–85 and ΔE00 ≥ 25 from the white
 * background (glasbey's method). Every pair differs by ΔE00 ≥ 16 (a test checks it); beyond 24
 * groups `categoricalStyle` also cycles marker symbols.
 */
export const PALETTE: readonly string[] = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
  '#004b2d',
  '#0000d2',
  '#695a00',
  '#3c3c4b',
  '#00f0b4',
  '#a5b4ff',
  '#87005a',
  '#008778',
  '#ffa5a5',
  '#a5874b',
  '#004b5a',
  '#96b496',
  '#69f00f',
  '#ffc369',
];

const SYMBOLS = ['circle', 'square', 'diamond', 'triangle-up', 'cross', 'x', 'triangle-down', 'star'];

/** Colour and marker symbol of the i-th group of a categorical legend (distinct for the first 24 × 8 groups). */
export function categoricalStyle(i: number): { color: string; symbol: string } {
  return { color: PALETTE[i % PALETTE.length], symbol: SYMBOLS[Math.floor(i / PALETTE.length) % SYMBOLS.length] };
}

/** `#rrggbb` → `rgba(r,g,b,alpha)`. */
export function withAlpha(hex: string, alpha: number): string {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  if (!m) return hex;
  return `rgba(${parseInt(m[1], 16)},${parseInt(m[2], 16)},${parseInt(m[3], 16)},${alpha})`;
}

/** `#rrggbb` → [r, g, b]. */
export function hexToRgb(hex: string): [number, number, number] {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  if (!m) throw new Error(`not a #rrggbb colour: ${hex}`);
  return [parseInt(m[1], 16), parseInt(m[2], 16), parseInt(m[3], 16)];
}
