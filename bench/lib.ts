// Shared helpers of the benchmarks: a seeded random source, percentiles, markdown tables, result
// files under bench/results/, and the SVG charts drawn from those results (bench/charts.ts redraws them).

import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** mulberry32: a small, fast, seeded PRNG returning [0, 1). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Exponential variate with the given mean. */
export function exponential(random: () => number, mean: number): number {
  return -Math.log(1 - random()) * mean;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / (values.length || 1);
}

/** A markdown table. */
export function table(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const fmt = (v: string | number) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 3 : 1)) : v);
  return [
    `| ${headers.join(' | ')} |`,
    `| ${headers.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(fmt).join(' | ')} |`),
  ].join('\n');
}

const here = dirname(fileURLToPath(import.meta.url));
/** bench/results in the source tree, also when running from dist/bench. */
export const RESULTS_DIR = here.includes(`${join('dist', 'bench')}`) ? join(here, '..', '..', 'bench', 'results') : join(here, 'results');

/**
 * Writes bench/results/NAME.json and .md, then draws NAME.svg with `chart` from the JSON just
 * written (bench/charts.ts redraws from the same file with the same function, so a run and a
 * redraw give the same SVG). Without `chart`, a stale NAME.svg is removed.
 */
export function writeResult<T>(name: string, data: T, markdown: string, chart?: (data: T) => string): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, `${name}.json`), `${JSON.stringify(data, null, 2)}\n`);
  writeFileSync(join(RESULTS_DIR, `${name}.md`), `${markdown}\n`);
  if (chart) drawChart(name, chart);
  else rmSync(join(RESULTS_DIR, `${name}.svg`), { force: true });
  console.log(`\n${markdown}\n(written: bench/results/${name}.json, .md${chart ? ', .svg' : ''})`);
}

/** Draws bench/results/NAME.svg from bench/results/NAME.json. */
export function drawChart(name: string, chart: (data: never) => string): void {
  const data: unknown = JSON.parse(readFileSync(join(RESULTS_DIR, `${name}.json`), 'utf8'));
  writeFileSync(join(RESULTS_DIR, `${name}.svg`), `${(chart as (data: unknown) => string)(data)}\n`);
}

// ---- Charts: hand-written SVG, no dependencies. ----

export interface Series { readonly name: string; readonly points: readonly (readonly [number, number])[] }
export interface BarSeries { readonly name: string; readonly values: readonly number[] }
/** What every chart says in words: title, a <desc> for screen readers, a note under the title
 * ("Lower is better. Log scale."), and the y axis label with its unit. */
export interface ChartText { readonly title: string; readonly desc: string; readonly note?: string; readonly yLabel: string }

const W = 760, H = 440;
/** Dash patterns of the lines other than p2c's, which is solid. */
const DASHES = ['8 4', '2 3', '10 3 2 3', '5 2'];
// Okabe-Ito colours (colour-blind safe): one per picker across all charts, then the others.
const OTHER_COLORS = ['#56B4E9', '#000000', '#999999'];
const PICKER_COLORS: readonly (readonly [RegExp, string])[] = [[/^p2c/, '#0072B2'], [/^random/, '#D55E00'], [/^round-robin/, '#E69F00'], [/^least-connections,/, '#CC79A7'], [/^least-connections/, '#009E73']];
/** Colours of the series named, in order: a picker's own colour, else the next of the others. */
function colors(names: readonly string[]): string[] {
  let other = 0;
  return names.map((n) => PICKER_COLORS.find(([re]) => re.test(n))?.[1] ?? OTHER_COLORS[other++ % OTHER_COLORS.length]!);
}
/** Width of text in a sans-serif font, erring wide (DejaVu Sans, the usual fallback, runs wide). */
const textWidth = (s: string, size = 12) => s.length * size * 0.58;
const clean = (v: number) => Number(v.toPrecision(12));
/** Smallest and largest finite value (positive only on a log axis). */
const range = (vs: readonly number[], log = false): [number, number] => {
  const ok = vs.filter((v) => Number.isFinite(v) && (!log || v > 0));
  return ok.length ? [Math.min(...ok), Math.max(...ok)] : [log ? 1 : 0, 1];
};
const r1 = (v: number) => Math.round(v * 10) / 10;

/** 3 significant digits; 1,234 / 12.3k / 1.23M. */
export function fmtNum(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${Number((v / 1e6).toPrecision(3))}M`;
  if (a >= 1e4) return `${Number((v / 1e3).toPrecision(3))}k`;
  if (a >= 1e3) return String(Math.round(v)).replace(/\B(?=(\d{3})+$)/g, ',');
  return String(Number(v.toPrecision(3)));
}

interface Axis { readonly lo: number; readonly hi: number; readonly log: boolean; readonly ticks: readonly number[] }

/** Linear axis from 0 (or below), ticks 1, 2 or 5 x 10^n apart; `tight` ends it at max, not the next tick. */
function linearAxis(min: number, max: number, tight = false): Axis {
  const lo0 = Math.min(0, min), hi0 = max > lo0 ? max : lo0 + 1;
  const raw = (hi0 - lo0) / 5, p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw * 0.999)!;
  const lo = Math.floor(lo0 / step) * step, hi = tight ? hi0 : Math.ceil(hi0 / step) * step;
  return { lo: clean(lo), hi: clean(hi), log: false, ticks: Array.from({ length: Math.floor((hi - lo) / step + 1e-9) + 1 }, (_, i) => clean(lo + i * step)) };
}

/** Log axis over whole decades; 2 and 5 ticks too when it spans three decades or fewer. */
function logAxis(min: number, max: number): Axis {
  const a = Math.floor(Math.log10(min)), b = Math.max(a + 1, Math.ceil(Math.log10(max)));
  const ticks: number[] = [];
  for (let e = a; e <= b; e++) for (const m of b - a <= 3 && e < b ? [1, 2, 5] : [1]) ticks.push(clean(m * 10 ** e));
  return { lo: clean(10 ** a), hi: clean(10 ** b), log: true, ticks };
}

/** Position of v on the axis, 0 (lo) to 1 (hi), clamped. */
function frac(ax: Axis, v: number): number {
  const f = ax.log ? Math.log10(Math.max(v, ax.lo) / ax.lo) / Math.log10(ax.hi / ax.lo) : (v - ax.lo) / (ax.hi - ax.lo);
  return Math.min(1, Math.max(0, f));
}

const plotLeft = (y: Axis) => r1(34 + Math.max(...y.ticks.map((t) => textWidth(fmtNum(t)))) + 8);
const PLOT_RIGHT = W - 24;

/** Title, note, legend (wrapping, never past the right edge), y axis with gridlines; the plot box. */
function frame(c: ChartText, y: Axis, legend: readonly { name: string; swatch: (x: number, y: number) => string }[], bottom: number, descTail = '') {
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12" role="img" aria-labelledby="title desc">`,
    `<title id="title">${esc(c.title)}</title>`, `<desc id="desc">${esc(c.desc + descTail)}</desc>`,
    `<rect width="100%" height="100%" fill="white"/>`, `<text x="16" y="26" font-size="16" font-weight="bold">${esc(c.title)}</text>`];
  if (c.note) parts.push(`<text x="16" y="46" fill="#444">${esc(c.note)}</text>`);
  const x0 = plotLeft(y), x1 = PLOT_RIGHT;
  let lx = x0, ly = c.note ? 70 : 52;
  for (const item of legend) {
    const w = 24 + textWidth(item.name) + 22;
    if (lx > x0 && lx + w - 20 > x1) { lx = x0; ly += 18; }
    parts.push(item.swatch(lx, ly - 4), `<text x="${r1(lx + 24)}" y="${ly}">${esc(item.name)}</text>`);
    lx += w;
  }
  const y0 = H - bottom, y1 = ly + 24;
  const py = (v: number) => r1(y0 - frac(y, v) * (y0 - y1));
  for (const t of y.ticks) parts.push(`<line x1="${x0 - 4}" y1="${py(t)}" x2="${x1}" y2="${py(t)}" stroke="#e2e2e2"/>`, `<text x="${x0 - 8}" y="${py(t) + 4}" text-anchor="end">${fmtNum(t)}</text>`);
  parts.push(`<text transform="translate(18 ${r1((y0 + y1) / 2)}) rotate(-90)" text-anchor="middle">${esc(c.yLabel)}</text>`,
    `<line x1="${x0}" y1="${y1}" x2="${x0}" y2="${y0}" stroke="#333"/>`, `<line x1="${x0}" y1="${y0}" x2="${x1}" y2="${y0}" stroke="#333"/>`);
  return { parts, x0, x1, y0, y1, py };
}

/** Line chart; the first series is drawn last, on top. Markers: dashed verticals with a label. */
export function lineChart(c: ChartText & { xLabel: string; series: readonly Series[]; logX?: boolean; logY?: boolean; yMax?: number; markers?: readonly { x: number; label: string }[] }): string {
  const xs = c.series.flatMap((s) => s.points.map((p) => p[0])), ys = c.series.flatMap((s) => s.points.map((p) => p[1]));
  const [xa, xb] = range(xs, c.logX), [ya, yb] = range(ys, c.logY);
  const x = c.logX ? logAxis(xa, xb) : linearAxis(xa, xb, true);
  const y = c.logY ? logAxis(ya, yb) : linearAxis(ya, c.yMax ?? yb);
  const color = colors(c.series.map((s) => s.name));
  let dashed = 0;
  const dash = c.series.map((s) => (/^p2c/.test(s.name) ? '' : ` stroke-dasharray="${DASHES[dashed++ % DASHES.length]}"`));
  const stroke = (i: number) => `stroke="${color[i]}" stroke-width="2.5"${dash[i]}`;
  const f = frame(c, y, c.series.map((s, i) => ({ name: s.name, swatch: (lx, ly) => `<line x1="${lx}" y1="${ly}" x2="${lx + 18}" y2="${ly}" ${stroke(i)}/>` })), 50);
  const px = (v: number) => r1(f.x0 + frac(x, v) * (f.x1 - f.x0));
  for (const t of x.ticks) f.parts.push(`<line x1="${px(t)}" y1="${f.y0}" x2="${px(t)}" y2="${f.y0 + 4}" stroke="#333"/>`, `<text x="${px(t)}" y="${f.y0 + 18}" text-anchor="middle">${fmtNum(t)}</text>`);
  f.parts.push(`<text x="${r1((f.x0 + f.x1) / 2)}" y="${H - 10}" text-anchor="middle">${esc(c.xLabel)}</text>`);
  for (const m of c.markers ?? []) {
    f.parts.push(`<line x1="${px(m.x)}" y1="${f.y1}" x2="${px(m.x)}" y2="${f.y0}" stroke="#777" stroke-dasharray="3 3"/>`, `<text x="${px(m.x) + 4}" y="${f.y1 + 12}" fill="#444">${esc(m.label)}</text>`);
  }
  c.series.map((s, i) => [s, i] as const).reverse().forEach(([s, i]) => {
    f.parts.push(`<path d="${s.points.map((p, j) => `${j === 0 ? 'M' : 'L'}${px(p[0])},${f.py(p[1])}`).join(' ')}" fill="none" ${stroke(i)} stroke-linejoin="round"/>`);
    if (s.points.length <= 12) for (const p of s.points) f.parts.push(`<circle cx="${px(p[0])}" cy="${f.py(p[1])}" r="3.5" fill="${color[i]}"/>`);
  });
  f.parts.push('</svg>');
  return f.parts.join('\n');
}

/** Grouped bar chart, one group per category, the value written above each bar. */
export function barChart(c: ChartText & { categories: readonly string[]; series: readonly BarSeries[]; logY?: boolean; valueLabel?: (v: number) => string }): string {
  const [va, vb] = range(c.series.flatMap((s) => s.values), c.logY);
  const label = c.valueLabel ?? fmtNum;
  const color = colors(c.series.map((s) => s.name));
  // Headroom for the value labels; a log axis starts a decade or so below the smallest bar.
  const y = c.logY ? logAxis(va / 2, vb * 1.3) : linearAxis(0, vb * 1.08);
  const groupW = (PLOT_RIGHT - plotLeft(y)) / c.categories.length;
  const lines = c.categories.map((cat) => wrap(cat, groupW - 8));
  const descTail = ` Values: ${c.categories.map((cat, ci) => `${cat}: ${c.series.map((s) => `${s.name} ${label(s.values[ci] ?? 0)}`).join(', ')}`).join('; ')}.`;
  const f = frame(c, y, c.series.map((s, i) => ({ name: s.name, swatch: (lx, ly) => `<rect x="${lx + 3}" y="${ly - 6}" width="12" height="12" fill="${color[i]}"/>` })),
    24 + 15 * Math.max(...lines.map((l) => l.length)), descTail);
  const barW = (groupW * 0.8) / c.series.length;
  c.categories.forEach((_, ci) => {
    const gx = f.x0 + groupW * ci;
    f.parts.push(`<text x="${r1(gx + groupW / 2)}" y="${f.y0 + 18}" text-anchor="middle">${lines[ci]!.map((l, li) => `<tspan x="${r1(gx + groupW / 2)}" dy="${li === 0 ? 0 : 15}">${esc(l)}</tspan>`).join('')}</text>`);
    c.series.forEach((s, si) => {
      const v = s.values[ci] ?? 0, bx = r1(gx + groupW * 0.1 + barW * si), top = f.py(v);
      // A bar too small to see still gets a 2 px stub in its colour under its label.
      const h = v > 0 ? Math.max(2, f.y0 - top) : 0;
      f.parts.push(`<rect x="${bx}" y="${r1(f.y0 - h)}" width="${r1(barW - 3)}" height="${r1(h)}" fill="${color[si]}"/>`,
        `<text x="${r1(bx + (barW - 3) / 2)}" y="${r1(f.y0 - h - 5)}" text-anchor="middle" font-size="11">${esc(label(v))}</text>`);
    });
  });
  f.parts.push('</svg>');
  return f.parts.join('\n');
}

/** Words of s in lines no wider than width. */
function wrap(s: string, width: number): string[] {
  const lines: string[] = [];
  for (const word of s.split(' ')) {
    const last = lines[lines.length - 1];
    if (last !== undefined && textWidth(`${last} ${word}`) <= width) lines[lines.length - 1] = `${last} ${word}`;
    else lines.push(word);
  }
  return lines;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
