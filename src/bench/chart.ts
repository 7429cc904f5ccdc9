import { existsSync, writeFileSync } from 'node:fs';
import { CKPOOL_REFERENCE, type SizeSummary } from './summary.js';

/**
 * The chart of the benchmark: fan-out latency and memory per device against the device count, ours beside
 * the relay floor and ckpool. Drawn as SVG here (no dependency), then rendered to PNG by headless Chromium
 * through playwright-core (already a dev dependency, used by the dashboard's browser test).
 */

interface Series {
  label: string;
  color: string;
  dash?: string;
  points: { x: number; y: number | null }[];
  /** Reference points (no line), e.g. ckpool's published figures. */
  markersOnly?: boolean;
}

interface Panel {
  title: string;
  yLabel: string;
  series: Series[];
  /** A horizontal goal line. */
  goal?: { y: number; label: string };
}

const W = 1280;
const H = 640;
const PANEL_W = 600;
const MARGIN = { left: 70, right: 20, top: 60, bottom: 190 };

function niceMax(x: number): number {
  if (!(x > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

/** A round step (1, 2, 2.5 or 5 times a power of ten) at least `x`. */
function niceStep(x: number): number {
  if (!(x > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function panelSvg(panel: Panel, x0: number, xMax: number): string {
  // A series without a point (the cross-check not run) gets no legend entry either.
  const p: Panel = { ...panel, series: panel.series.filter((s) => s.points.some((pt) => pt.y !== null)) };
  const plotW = PANEL_W - MARGIN.left - MARGIN.right;
  const plotH = H - MARGIN.top - MARGIN.bottom;
  const ys = p.series.flatMap((s) => s.points.map((pt) => pt.y).filter((y): y is number => y !== null));
  if (p.goal) ys.push(p.goal.y);
  // Memory per device can come out below zero at small sizes (the heap shrank after start-up): show it.
  const step = niceStep((Math.max(...ys, 1) - Math.min(...ys, 0)) / 5);
  const yMax = Math.ceil((Math.max(...ys, 1) * 1.02) / step) * step;
  const yMin = Math.floor(Math.min(...ys, 0) / step) * step;
  const sx = (x: number) => x0 + MARGIN.left + (x / xMax) * plotW;
  const sy = (y: number) => MARGIN.top + plotH - ((y - yMin) / (yMax - yMin)) * plotH;
  const out: string[] = [];
  out.push(`<text x="${x0 + MARGIN.left}" y="${MARGIN.top - 24}" font-size="18" font-weight="600">${esc(p.title)}</text>`);
  // Grid and axes.
  for (let y = yMin; y <= yMax + step / 1000; y += step) {
    out.push(`<line x1="${sx(0)}" x2="${sx(xMax)}" y1="${sy(y)}" y2="${sy(y)}" stroke="#e3e3e3"/>`);
    out.push(`<text x="${sx(0) - 8}" y="${sy(y) + 4}" font-size="12" text-anchor="end">${Number(y.toPrecision(3))}</text>`);
  }
  const xStep = niceMax(xMax / 5);
  for (let x = 0; x <= xMax + 1e-9; x += xStep) {
    out.push(`<line x1="${sx(x)}" x2="${sx(x)}" y1="${sy(yMin)}" y2="${sy(yMax)}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${sx(x)}" y="${sy(yMin) + 18}" font-size="12" text-anchor="middle">${x.toLocaleString('en-US')}</text>`);
  }
  out.push(`<line x1="${sx(0)}" x2="${sx(xMax)}" y1="${sy(0)}" y2="${sy(0)}" stroke="#333"/>`);
  out.push(`<line x1="${sx(0)}" x2="${sx(0)}" y1="${sy(yMin)}" y2="${sy(yMax)}" stroke="#333"/>`);
  out.push(`<text x="${sx(xMax / 2)}" y="${sy(yMin) + 40}" font-size="13" text-anchor="middle">devices connected</text>`);
  out.push(`<text transform="translate(${x0 + 18} ${sy((yMax + yMin) / 2)}) rotate(-90)" font-size="13" text-anchor="middle">${esc(p.yLabel)}</text>`);
  if (p.goal) {
    out.push(`<line x1="${sx(0)}" x2="${sx(xMax)}" y1="${sy(p.goal.y)}" y2="${sy(p.goal.y)}" stroke="#c0392b" stroke-dasharray="2 4" stroke-width="1.5"/>`);
    out.push(`<text x="${sx(xMax * 0.4)}" y="${sy(p.goal.y) - 6}" font-size="12" fill="#c0392b">${esc(p.goal.label)}</text>`);
  }
  for (const s of p.series) {
    const pts = s.points.filter((pt): pt is { x: number; y: number } => pt.y !== null);
    if (!s.markersOnly && pts.length > 1) {
      out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2.5"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''} points="${pts.map((pt) => `${sx(pt.x).toFixed(1)},${sy(pt.y).toFixed(1)}`).join(' ')}"/>`);
    }
    for (const pt of pts) {
      out.push(s.markersOnly
        ? `<rect x="${sx(pt.x) - 5}" y="${sy(pt.y) - 5}" width="10" height="10" fill="none" stroke="${s.color}" stroke-width="2"/>`
        : `<circle cx="${sx(pt.x)}" cy="${sy(pt.y)}" r="4" fill="${s.color}"/>`);
    }
  }
  // Legend below the plot.
  p.series.forEach((s, i) => {
    const lx = x0 + MARGIN.left + (i % 2) * 270;
    const ly = sy(yMin) + 70 + Math.floor(i / 2) * 22;
    out.push(s.markersOnly
      ? `<rect x="${lx + 9}" y="${ly - 9}" width="10" height="10" fill="none" stroke="${s.color}" stroke-width="2"/>`
      : `<line x1="${lx}" x2="${lx + 28}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2.5"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
    out.push(`<text x="${lx + 36}" y="${ly}" font-size="13">${esc(s.label)}</text>`);
  });
  return out.join('\n');
}

export function chartSvg(sizes: SizeSummary[], subtitle: string): string {
  const xMax = niceMax(Math.max(...sizes.map((s) => s.devices), 10_000));
  const pts = (f: (s: SizeSummary) => number | null) => sizes.map((s) => ({ x: s.devices, y: f(s) }));
  const ck = (f: (c: (typeof CKPOOL_REFERENCE)[number]) => number) => CKPOOL_REFERENCE.map((c) => ({ x: c.devices, y: f(c) }));
  const latency: Panel = {
    title: 'Job fan-out latency',
    yLabel: 'milliseconds (pool write to miner read)',
    series: [
      { label: 'dash-farm-proxy p99', color: '#1f77b4', points: pts((s) => s.own.p99ms.median) },
      { label: 'dash-farm-proxy p50', color: '#1f77b4', dash: '6 5', points: pts((s) => s.own.p50ms.median) },
      { label: 'p99, by fanout-bench.js', color: '#9467bd', dash: '2 4', points: pts((s) => s.yardstick?.p99ms.median ?? null) },
      { label: 'relay floor p99 (null proxy)', color: '#7f7f7f', points: pts((s) => s.floor?.p99ms.median ?? null) },
      { label: 'relay floor p50', color: '#7f7f7f', dash: '6 5', points: pts((s) => s.floor?.p50ms.median ?? null) },
      { label: 'ckpool -p p99 (reference)', color: '#e67e22', markersOnly: true, points: ck((c) => c.p99ms) },
      { label: 'ckpool -p p50 (reference)', color: '#f5b041', markersOnly: true, points: ck((c) => c.p50ms) },
    ],
  };
  const memory: Panel = {
    title: 'Proxy memory per device',
    yLabel: 'KiB of resident memory per device',
    goal: { y: 6, label: 'goal: 6 KiB' },
    series: [
      { label: 'dash-farm-proxy, connected', color: '#2ca02c', points: pts((s) => s.own.kibPerDevice.median) },
      { label: 'dash-farm-proxy, after jobs', color: '#2ca02c', dash: '6 5', points: pts((s) => s.own.kibPerDeviceAfterJobs.median) },
      { label: 'connected, by fanout-bench.js', color: '#9467bd', dash: '2 4', points: pts((s) => s.yardstick?.kibPerDevice.median ?? null) },
      { label: 'relay floor (null proxy)', color: '#7f7f7f', points: pts((s) => s.floor?.kibPerDevice.median ?? null) },
      { label: 'ckpool -p (reference)', color: '#e67e22', markersOnly: true, points: ck((c) => c.kibPerDevice) },
    ],
  };
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Arial, sans-serif" fill="#222">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="${H - 12}" font-size="13" text-anchor="middle" fill="#555">${esc(subtitle)}</text>`,
    panelSvg(latency, 0, xMax),
    panelSvg(memory, PANEL_W + 60, xMax),
    '</svg>',
  ].join('\n');
}

/** Chromium for the PNG: $CHROMIUM_PATH, else Debian's. */
export function chromiumPath(env: NodeJS.ProcessEnv = process.env): string | null {
  for (const p of [env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser']) if (p && existsSync(p)) return p;
  return null;
}

/** Write the SVG and render it to PNG; returns the PNG path, or null with the reason when it could not. */
export async function writeChart(svg: string, svgPath: string, pngPath: string): Promise<{ png: string | null; why: string | null }> {
  writeFileSync(svgPath, svg);
  const executablePath = chromiumPath();
  if (!executablePath) return { png: null, why: 'no Chromium found (set CHROMIUM_PATH, or apt-get install chromium); the SVG is written' };
  let browser: import('playwright-core').Browser | null = null;
  try {
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'], timeout: 60_000 });
    const page = await browser.newPage({ viewport: { width: W, height: H }, deviceScaleFactor: 1 });
    await page.setContent(`<!doctype html><html><body style="margin:0">${svg}</body></html>`);
    await page.screenshot({ path: pngPath, clip: { x: 0, y: 0, width: W, height: H } });
    return { png: pngPath, why: null };
  } catch (err) {
    return { png: null, why: `Chromium could not render the PNG: ${(err as Error).message.split('\n')[0]}` };
  } finally {
    await browser?.close().catch(() => {});
  }
}
