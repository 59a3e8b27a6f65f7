// Shared helpers of the benchmarks: a seeded random source, percentiles, markdown tables, SVG
// charts written by the benchmark itself, and result files under bench/results/.

import { mkdirSync, writeFileSync } from 'node:fs';
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

export function writeResult(name: string, data: unknown, markdown: string, svg?: string): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, `${name}.json`), `${JSON.stringify(data, null, 2)}\n`);
  writeFileSync(join(RESULTS_DIR, `${name}.md`), `${markdown}\n`);
  if (svg) writeFileSync(join(RESULTS_DIR, `${name}.svg`), svg);
  console.log(`\n${markdown}\n(written: bench/results/${name}.json, .md${svg ? ', .svg' : ''})`);
}

export interface Series { readonly name: string; readonly points: readonly (readonly [number, number])[] }

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

/** A line chart as SVG text; `logX` for the balls-into-bins table. */
export function lineChart(title: string, xLabel: string, yLabel: string, series: readonly Series[], options: { logX?: boolean; yMax?: number } = {}): string {
  const W = 720, H = 420, L = 70, R = 170, T = 40, B = 50;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const tx = (x: number) => (options.logX ? Math.log10(x) : x);
  const x0 = Math.min(...xs.map(tx)), x1 = Math.max(...xs.map(tx));
  const y0 = 0, y1 = options.yMax ?? (Math.max(...ys) * 1.1 || 1);
  const px = (x: number) => L + ((tx(x) - x0) / (x1 - x0 || 1)) * (W - L - R);
  const py = (y: number) => H - B - ((Math.min(y, y1) - y0) / (y1 - y0)) * (H - T - B);
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`, `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(title)}</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/>`, `<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`,
    `<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">${escapeXml(xLabel)}</text>`,
    `<text x="16" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(T + H - B) / 2})">${escapeXml(yLabel)}</text>`];
  for (let i = 0; i <= 5; i++) {
    const y = y0 + ((y1 - y0) * i) / 5;
    parts.push(`<line x1="${L - 4}" y1="${py(y)}" x2="${W - R}" y2="${py(y)}" stroke="#ddd"/>`, `<text x="${L - 8}" y="${py(y) + 4}" text-anchor="end">${fmtTick(y)}</text>`);
  }
  const xTicks = options.logX ? [...new Set(xs)].sort((a, b) => a - b) : Array.from({ length: 6 }, (_, i) => (x0 + ((x1 - x0) * i) / 5));
  for (const x of xTicks) parts.push(`<text x="${px(x)}" y="${H - B + 16}" text-anchor="middle">${fmtTick(x)}</text>`);
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const d = s.points.map((p, j) => `${j === 0 ? 'M' : 'L'}${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`);
    parts.push(`<rect x="${W - R + 12}" y="${T + i * 20}" width="12" height="12" fill="${color}"/>`, `<text x="${W - R + 30}" y="${T + i * 20 + 11}">${escapeXml(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** Grouped bar chart: one group per category, one bar per series. */
export function barChart(title: string, yLabel: string, categories: readonly string[], series: readonly { name: string; values: readonly number[] }[]): string {
  const W = 720, H = 420, L = 70, R = 170, T = 40, B = 60;
  const max = Math.max(...series.flatMap((s) => s.values)) * 1.1 || 1;
  const groupW = (W - L - R) / categories.length;
  const barW = (groupW * 0.8) / series.length;
  const py = (v: number) => H - B - (v / max) * (H - T - B);
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`, `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(title)}</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/>`,
    `<text x="16" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(T + H - B) / 2})">${escapeXml(yLabel)}</text>`];
  for (let i = 0; i <= 5; i++) {
    const v = (max * i) / 5;
    parts.push(`<line x1="${L - 4}" y1="${py(v)}" x2="${W - R}" y2="${py(v)}" stroke="#ddd"/>`, `<text x="${L - 8}" y="${py(v) + 4}" text-anchor="end">${fmtTick(v)}</text>`);
  }
  categories.forEach((c, ci) => {
    parts.push(`<text x="${L + groupW * ci + groupW / 2}" y="${H - B + 18}" text-anchor="middle">${escapeXml(c)}</text>`);
    series.forEach((s, si) => {
      const v = s.values[ci] ?? 0;
      parts.push(`<rect x="${L + groupW * ci + groupW * 0.1 + barW * si}" y="${py(v)}" width="${barW - 2}" height="${H - B - py(v)}" fill="${COLORS[si % COLORS.length]}"/>`);
    });
  });
  series.forEach((s, i) => parts.push(`<rect x="${W - R + 12}" y="${T + i * 20}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>`, `<text x="${W - R + 30}" y="${T + i * 20 + 11}">${escapeXml(s.name)}</text>`));
  parts.push('</svg>');
  return parts.join('\n');
}

function fmtTick(v: number): string {
  if (v >= 10000) return v.toExponential(0);
  if (Number.isInteger(v)) return String(v);
  return v < 1 ? v.toFixed(2) : v.toFixed(1);
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
