import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import t, { type Test } from 'tap';
import { startDashboardSut, type DashboardSut } from '../helpers/dashboard-sut.js';
import type { DeviceView } from '../../src/observe/farm-ledger.js';
import type { RouteSpec } from '../../src/routing/types.js';
import { sleep } from '../helpers/wait.js';

/**
 * The dashboard in a real headless Chromium (Debian's `chromium`, driven by playwright-core) against the
 * demo (test/helpers/dashboard-sut.ts: a simulated pool, the proxy app and a simulated fleet that really
 * hashes X11): the table shows the devices, their numbers move, a device killed during the test turns
 * offline on the page, filters and sorting work, the page reconnects when the proxy restarts, and it makes
 * no request to any other host. A screenshot is saved to test-output/dashboard.png. A second test loads
 * 10,000 devices (synthetic events at ASIC rates) and reports the page's update cost.
 */

const CHROMIUM = '/usr/bin/chromium';
const OUT_DIR = resolve('test-output');
const TOKEN = 'viewer-7f3a';
const WAIT = { timeout: 30_000, polling: 100 } as const;

// A browser and a farm share this machine with the other test files: allow more than the default per-file time.
t.setTimeout(300_000);

const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (install Debian's chromium: apt-get install chromium; .ci/run does)`;

async function launch(t: Test): Promise<BrowserContext> {
  const userDataDir = await mkdtemp(join(tmpdir(), 'dashboard-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1440, height: 900 },
    deviceScaleFactor: 1,
    timeout: 60_000,
  });
  t.teardown(async () => {
    await context.close().catch(() => {});
    await rm(userDataDir, { recursive: true, force: true });
  });
  return context;
}

async function startSut(t: Test, opts: Parameters<typeof startDashboardSut>[0]): Promise<DashboardSut> {
  const sut = await startDashboardSut(opts);
  t.teardown(() => sut.close());
  return sut;
}

/** Worker names of the rows the table has drawn (virtual scrolling: only those in view). */
function shownWorkers(page: Page): Promise<string[]> {
  return page.$$eval('#grid-body .row:not([hidden])', (rows) =>
    rows
      .map((r) => ({ w: (r as HTMLElement).dataset.worker ?? '', top: new DOMMatrix(getComputedStyle(r).transform).m42 }))
      .sort((a, b) => a.top - b.top)
      .map((r) => r.w),
  );
}

function cellText(page: Page, worker: string, column: number): Promise<string> {
  return page.$eval(`#grid-body .row[data-worker="${worker}"]`, (row, c) => row.children[c]!.textContent ?? '', column);
}

/** Natural order ("asic-2" before "asic-10"), as the page sorts names. */
const natural = new Intl.Collator('en', { numeric: true });
function naturalSorted(list: readonly string[]): string[] {
  return [...list].sort(natural.compare);
}

/** Wait until the table's first drawn row is this worker (sorting happens in the next animation frame). */
async function waitFirstRow(page: Page, worker: string): Promise<void> {
  await page.waitForFunction(
    (w) => {
      const rows = [...document.querySelectorAll<HTMLElement>('#grid-body .row:not([hidden])')];
      const top = rows.find((r) => new DOMMatrix(getComputedStyle(r).transform).m42 === 0);
      return top?.dataset.worker === w;
    },
    worker,
    WAIT,
  );
}

function number(text: string): number {
  return Number(text.replace(/[^0-9.]/g, ''));
}

const HASH_UNITS: Record<string, number> = { 'H/s': 1, 'kH/s': 1e3, 'MH/s': 1e6, 'GH/s': 1e9, 'TH/s': 1e12, 'PH/s': 1e15 };
function hashrate(text: string): number {
  const [value, unit] = text.split(' ');
  return Number(value) * HASH_UNITS[unit!]!;
}

// Column order in the table (app.js COLUMNS).
const COL = { worker: 0, owner: 1, target: 2, status: 3, hashrate: 4, difficulty: 5, accepted: 6, rejected: 7, rejectRate: 8, lastShare: 9, ip: 10 };

/** The demo farm's owners: alice owns asic-01..09 by pattern, bob asic-10..19, the farm the rest. */
const OWNERS = { alice: { workers: ['rack-01.asic-0?'], feePercent: 2 }, bob: { workers: ['rack-01.asic-1?'] } };
const ownerOf = (worker: string) => (/asic-0\d$/.test(worker) ? 'alice' : /asic-1\d$/.test(worker) ? 'bob' : 'farm');

t.test('dashboard routes: token, content types, CSP, no inline code, no other host', async (t) => {
  const sut = await startSut(t, { kind: 'synthetic', devices: 3, token: TOKEN, backfill: false });
  // The page and the feed need the token; the page's own files are public code.
  const noToken = await fetch(`${sut.baseUrl}/`);
  t.equal(noToken.status, 401, 'the page needs the token');
  const pageRes = await fetch(sut.pageUrl);
  t.equal(pageRes.status, 200);
  t.match(pageRes.headers.get('content-type'), /^text\/html/);
  const csp = pageRes.headers.get('content-security-policy') ?? '';
  t.match(csp, /default-src 'none'/);
  t.match(csp, /script-src 'self'(;|$)/, 'scripts from this origin only, none inline');
  t.match(csp, /style-src 'self'(;|$)/, 'styles from this origin only, none inline');
  t.match(csp, /connect-src 'self'/);
  t.match(csp, /frame-ancestors 'none'/);
  t.equal(pageRes.headers.get('x-content-type-options'), 'nosniff');
  t.equal(pageRes.headers.get('referrer-policy'), 'no-referrer', 'the token in the address does not leak in a Referer');
  const html = await pageRes.text();
  t.notMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script in the page');
  t.notMatch(html, /\bstyle=|<style/, 'no inline style in the page');
  t.notMatch(html, /\bon[a-z]+=/, 'no inline event handler');
  t.notMatch(html, /(https?:)?\/\/[a-z0-9]/i, 'no URL to any other host in the page');
  const byHeader = await fetch(`${sut.baseUrl}/`, { headers: { authorization: `Bearer ${TOKEN}` } });
  t.equal(byHeader.status, 200, 'or the token as a bearer header');
  const head = await fetch(sut.pageUrl, { method: 'HEAD' });
  t.equal(head.status, 200);
  t.equal(await head.text(), '', 'HEAD has no body');

  const files: [string, RegExp][] = [
    ['app.js', /^text\/javascript; charset=utf-8$/],
    ['style.css', /^text\/css; charset=utf-8$/],
    ['favicon.svg', /^image\/svg\+xml$/],
  ];
  for (const [name, type] of files) {
    const res = await fetch(`${sut.baseUrl}/dashboard/${name}`);
    t.equal(res.status, 200, `${name} is served without the token (code, no farm data)`);
    t.match(res.headers.get('content-type'), type, `${name} content type`);
    const body = await res.text();
    t.notMatch(body, /https?:\/\/(?!www\.w3\.org\/2000\/svg)/, `${name} refers to no other host`);
  }
  for (const bad of ['%2e%2e%2fdashboard.ts', '..%2Ffeed.ts', 'index.html', '.hidden.js', 'nope.js', 'app.ts']) {
    t.equal((await fetch(`${sut.baseUrl}/dashboard/${bad}`)).status, 404, `/dashboard/${bad} is not served`);
  }
});

t.test('dashboard in headless Chromium against the running farm', { skip, timeout: 240_000 }, async (t) => {
  const sut = await startSut(t, { kind: 'demo', devices: 24, token: TOKEN, intervalMs: 500, owners: OWNERS, books: true });
  const port = Number(new URL(sut.baseUrl).port);

  const context = await launch(t);
  const page = await context.newPage();
  const requests: string[] = [];
  const consoleErrors: string[] = [];
  const pageErrors: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => pageErrors.push(e.message));

  await page.goto(sut.pageUrl);
  await page.waitForFunction(() => document.getElementById('conn')?.dataset.state === 'live', undefined, WAIT);
  await page.waitForFunction(() => document.getElementById('count')?.textContent === '24', undefined, WAIT);
  t.pass('connected and showing 24 devices');

  // The table shows the simulated devices, sorted by name.
  const shown = await shownWorkers(page);
  t.ok(shown.length >= 10, `rows drawn (${shown.length})`);
  t.same(shown, naturalSorted(sut.workers).slice(0, shown.length), 'the farm devices, in name order');

  // Its numbers agree with the farm's own and change over time.
  const first = sut.workers[0]!;
  await page.waitForFunction(
    ([w, col]) => Number(document.querySelector(`#grid-body .row[data-worker="${w}"]`)?.children[col]!.textContent!.replace(/\D/g, '')) > 0,
    [first, COL.accepted] as const,
    WAIT,
  );
  const pageAccepted = number(await cellText(page, first, COL.accepted));
  const serverAccepted = sut.stats.device(first)!.accepted;
  t.ok(pageAccepted > 0 && pageAccepted <= serverAccepted, `accepted on the page (${pageAccepted}) is the farm's (${serverAccepted}) or just behind it`);
  const totalBefore = number(await page.textContent('#t-accepted') ?? '');
  t.equal(await cellText(page, first, COL.status), 'online');
  await page.waitForFunction(
    ([w, before, col]) => Number(document.querySelector(`#grid-body .row[data-worker="${w}"]`)!.children[col]!.textContent!.replace(/\D/g, '')) > before,
    [first, pageAccepted, COL.accepted] as const,
    WAIT,
  );
  await page.waitForFunction((before) => Number(document.getElementById('t-accepted')!.textContent!.replace(/\D/g, '')) > before, totalBefore, WAIT);
  t.pass('accepted counts grow on the page');
  // Each device's owner is in its row (the header says so); the owners panel has every owner, with the
  // devices it has and a share of the farm's work that agrees with the farm's own.
  t.equal(await page.textContent('.head-row .col-owner'), 'Owner');
  for (const w of await shownWorkers(page)) t.equal(await cellText(page, w, COL.owner), ownerOf(w), `${w} belongs to ${ownerOf(w)}`);
  await page.waitForFunction(() => document.querySelectorAll('#owner-list li[data-owner]').length === 3, undefined, WAIT);
  // The page trails the farm by up to a tick and work keeps coming: the work it shows for each owner lies
  // between the farm's just before (waited for) and just after it is read. Work is in each item's title.
  const workBefore = sut.stats.ownerList().map((o) => [o.owner, o.work] as const);
  await page.waitForFunction(
    (before) =>
      before.every(([owner, w]) => Number(/^work: (\S+) /.exec(document.querySelector(`#owner-list li[data-owner="${owner}"] .owner-work`)?.getAttribute('title') ?? '')?.[1] ?? -1) >= w),
    workBefore,
    WAIT,
  );
  // (No function declared inside: the page runs this text as is, without the test's compiled helpers.)
  const ownerItems = await page.$$eval('#owner-list li[data-owner]', (items) =>
    items.map((li) => ({
      owner: (li as HTMLElement).dataset.owner!,
      name: li.querySelector('.owner-name')?.textContent ?? '',
      share: li.querySelector('.owner-share')?.textContent ?? '',
      devices: li.querySelector('.owner-devices')?.textContent ?? '',
      work: Number(/^work: (\S+) /.exec(li.querySelector('.owner-work')?.getAttribute('title') ?? '')?.[1]),
      cls: li.className,
    })),
  );
  const workAfter = new Map(sut.stats.ownerList().map((o) => [o.owner, o.work]));
  t.same(ownerItems.map((o) => o.owner).sort(), ['alice', 'bob', 'farm'], 'the owners panel lists alice, bob and the farm');
  const pageTotal = ownerItems.reduce((n, o) => n + o.work, 0);
  for (const item of ownerItems) {
    const before = new Map(workBefore).get(item.owner)!;
    t.equal(item.name, item.owner, `${item.owner}: name`);
    t.ok(item.work >= before && item.work <= workAfter.get(item.owner)!, `${item.owner}: the work on the page (${item.work}) is the farm's (${before} .. ${workAfter.get(item.owner)})`);
    t.match(item.share, /^\d+(\.\d+)?%$/, `${item.owner}: a share of the farm's work (${item.share})`);
    // The page rounds to 0.1 point: at most half a step (0.05 point) away, reached exactly at a half (51.25% shows
    // as 51.3%); the 1e-9 absorbs the float error of that exact case.
    t.ok(Math.abs(number(item.share) / 100 - item.work / pageTotal) <= 0.0005 + 1e-9, `${item.owner}: its share (${item.share}) is its work over the farm's on the page (${((item.work / pageTotal) * 100).toFixed(3)}%)`);
  }
  t.match(ownerItems.find((o) => o.owner === 'farm')!.cls, /farm-owner/, 'the farm owner is marked');
  t.same(
    ['alice', 'bob', 'farm'].map((name) => ownerItems.find((o) => o.owner === name)!.devices),
    ['9 / 9 online', '10 / 10 online', '5 / 5 online'],
    'devices per owner by the patterns',
  );
  t.ok(await page.isVisible('#owner-list li[data-owner="alice"]'), 'the owners panel is shown');
  // What the pool made of each owner's forwarded shares, as the farm counts it (the page may trail it by a
  // tick): first wait (bounded) until the pool has accepted a share of each owner and the page shows it.
  await page.waitForFunction(
    () => {
      const items = [...document.querySelectorAll('#owner-list li[data-owner] .owner-pool')];
      return items.length === 3 && items.every((el) => Number(/^pool (\S+) /.exec(el.textContent ?? '')?.[1]?.replace(/\D/g, '') ?? 0) > 0);
    },
    undefined,
    { timeout: 60_000, polling: 100 },
  );
  for (const o of sut.stats.ownerList()) {
    const text = await page.textContent(`#owner-list li[data-owner="${o.owner}"] .owner-pool`);
    const [accepted, rejected, unanswered] = (/^pool (\S+) \/ (\S+) \/ (\S+)$/.exec(text ?? '') ?? []).slice(1).map(number);
    t.ok(accepted! > 0 && accepted! <= o.poolAccepted && rejected! <= o.poolRejected && unanswered! <= o.poolUnanswered, `${o.owner}: pool verdicts on the page (${text}) are the farm's (${o.poolAccepted} / ${o.poolRejected} / ${o.poolUnanswered}) or just behind`);
  }

  // The books are on and hold no payout yet: every owner says so. A payout recorded over the API (as the
  // operator would) then shows as each owner's last payout: its split's total, from the books.
  await page.waitForFunction(() => document.querySelectorAll('#owner-list li[data-owner] .owner-payout.none').length === 3, undefined, WAIT);
  t.ok(await page.isHidden('#owner-books'), 'books on: no "books off" note');
  // The books have each owner's pool-accepted work (committed behind the share path within 100 ms), so the
  // payout is split among all three.
  const range = () => `from=${new Date(Date.now() - 3_600_000).toISOString()}&to=${new Date(Date.now() + 1000).toISOString()}`;
  for (let i = 0; i < 100; i++) {
    const report = (await (await fetch(`${sut.baseUrl}/api/ledger/report?${range()}&by=owner`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { rows: { owner: string; acceptedWork: number }[] };
    if (report.rows.filter((r) => r.acceptedWork > 0).length === 3) break;
    await sleep(100);
  }
  const paid = await fetch(`${sut.baseUrl}/api/ledger/payouts`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ amount: '1.5', from: new Date(Date.now() - 3_600_000).toISOString(), to: new Date().toISOString(), note: 'browser test' }),
  });
  t.equal(paid.status, 201, 'payout recorded');
  const payout = (await paid.json()) as { id: number; amount: string; splits: { owner: string; total: string }[] };
  t.same(payout.splits.map((x) => x.owner).sort(), ['alice', 'bob', 'farm'], 'split among the three owners');
  const splitOf = Object.fromEntries(payout.splits.map((x) => [x.owner, x.total]));
  await page.waitForFunction(
    (id) => [...document.querySelectorAll<HTMLElement>('#owner-list li[data-owner] .owner-payout')].filter((el) => el.dataset.payoutId === String(id)).length === 3,
    payout.id,
    WAIT,
  );
  for (const owner of ['alice', 'bob', 'farm']) {
    const shown = await page.$eval(`#owner-list li[data-owner="${owner}"] .owner-payout`, (el) => ({ text: el.textContent ?? '', amount: (el as HTMLElement).dataset.amount, title: (el as HTMLElement).title }));
    t.equal(shown.amount, splitOf[owner], `${owner}: last payout ${shown.amount} DASH, its split's total`);
    t.match(shown.text, new RegExp(`^paid ${splitOf[owner]!.replace('.', '\\.')} DASH · \\d+s ago$`), `${owner}: amount and when (${shown.text})`);
    t.match(shown.title, new RegExp(`^payout #${payout.id} of 1\\.50000000 DASH \\(PROP\\)`), `${owner}: which payout`);
  }
  const apiOwners = (await (await fetch(`${sut.baseUrl}/api/owners`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { payouts: { books: boolean; lastPayouts: Record<string, { amount: string; payoutId: number }> } };
  t.equal(apiOwners.payouts.books, true);
  t.same(Object.fromEntries(Object.entries(apiOwners.payouts.lastPayouts).map(([o, p]) => [o, p.amount])), splitOf, '/api/owners has the same last payouts');
  // Where each device mines: today's proxy puts every device on route 'default', target 'default', and the
  // routes panel shows that one target with weight 100% and all of the work.
  t.equal(await page.textContent('.head-row .col-target'), 'Target');
  for (const w of await shownWorkers(page)) t.equal(await cellText(page, w, COL.target), 'default', `${w} mines on target default`);
  await page.waitForFunction(() => document.querySelector('#route-list li.route-target[data-route="default"][data-target="default"]') !== null, undefined, WAIT);
  t.equal(await page.textContent('#route-list li.route-target[data-target="default"] .target-weight'), 'weight 100.0%');
  t.equal(await page.textContent('#route-list li.route-target[data-target="default"] .target-achieved'), '100.0%');
  t.equal(await page.textContent('#route-list li.route-target[data-target="default"] .target-devices'), '24 / 24 devices');
  // The filter matches owners too.
  await page.fill('#filter', 'bob');
  await page.waitForFunction(() => document.getElementById('count')!.textContent === '10 of 24', undefined, WAIT);
  t.ok((await shownWorkers(page)).every((w) => ownerOf(w) === 'bob'), "filter by owner: bob's devices");
  await page.fill('#filter', '');
  await page.waitForFunction(() => document.getElementById('count')!.textContent === '24', undefined, WAIT);

  const age1 = await cellText(page, first, COL.lastShare);
  t.match(age1, /^\d+s$/, 'last-share age in seconds');

  // Kill a device: it turns offline on the page, with an event.
  const victim = sut.workers[2]!;
  await sut.kill(victim);
  await page.waitForFunction(
    ([w, c]) => {
      const row = document.querySelector(`#grid-body .row[data-worker="${w}"]`);
      return row?.classList.contains('offline') && row.children[c]!.textContent === 'offline';
    },
    [victim, COL.status] as const,
    WAIT,
  );
  t.pass(`${victim} is shown offline`);
  await page.waitForFunction((w) => [...document.querySelectorAll('#event-list .ev-device-offline .msg')].some((m) => m.textContent!.startsWith(`${w} went offline`)), victim, WAIT);
  t.pass('the event feed says it went offline');
  t.equal(await page.textContent('#t-offline'), String(sut.stats.summary().devicesOffline), 'offline total is the farm’s');

  // Status filters match the farm's own view of its devices.
  const views = () => {
    const out: DeviceView[] = [];
    sut.stats.forEachDevice((slot) => out.push(sut.stats.view(slot)));
    return out;
  };
  async function expectRows(label: string, expected: () => string[]) {
    // The page trails the farm by up to one tick: compare until both agree (bounded).
    let got: string[] = [];
    let want: string[] = [];
    for (let i = 0; i < 50; i++) {
      want = expected().sort();
      got = (await shownWorkers(page)).sort();
      if (JSON.stringify(got) === JSON.stringify(want)) break;
      await sleep(200);
    }
    t.same(got, want, label);
  }
  await page.click('#status-filter button[data-status="offline"]');
  await expectRows('filter offline: exactly the offline devices', () => views().filter((v) => !v.online).map((v) => v.worker));
  t.ok((await shownWorkers(page)).includes(victim));
  // The rejecting device misbehaves at random: wait (bounded) until the farm itself counts it as a problem.
  for (let i = 0; i < 150 && views().filter((v) => v.online && v.rejectRate > 0.05).length === 0; i++) await sleep(200);
  await page.click('#status-filter button[data-status="problem"]');
  await expectRows('filter problem: offline or rejecting more than 5%', () => views().filter((v) => !v.online || v.rejectRate > 0.05).map((v) => v.worker));
  const problemRows = await shownWorkers(page);
  t.ok(problemRows.length >= 2, `problem devices shown (${problemRows.join(', ')})`);
  for (const w of problemRows) {
    const cls = await page.getAttribute(`#grid-body .row[data-worker="${w}"]`, 'class');
    t.match(cls, /offline|high-reject/, `${w} is highlighted`);
  }
  await page.click('#status-filter button[data-status="online"]');
  await expectRows('filter online', () => views().filter((v) => v.online).map((v) => v.worker));
  await page.click('#status-filter button[data-status="all"]');

  // Name filter.
  await page.fill('#filter', 'ASIC-1');
  const named = sut.workers.filter((w) => w.includes('asic-1'));
  await page.waitForFunction((n) => document.getElementById('count')!.textContent === `${n} of 24`, named.length, WAIT);
  t.same((await shownWorkers(page)).sort(), [...named].sort(), 'filter by name (case-insensitive)');
  const ip = sut.stats.device(victim)!.ip;
  const atIp = views().filter((v) => v.ip.includes(ip)).map((v) => v.worker);
  await page.fill('#filter', ip);
  await page.waitForFunction((n) => document.getElementById('count')!.textContent === (n === 24 ? '24' : `${n} of 24`), atIp.length, WAIT);
  const shownAtIp = await shownWorkers(page);
  t.ok(shownAtIp.length > 0 && shownAtIp.every((w) => atIp.includes(w)), `filter by address (${ip}): ${atIp.length} devices there`);
  await page.fill('#filter', '');
  await page.waitForFunction(() => document.getElementById('count')!.textContent === '24', undefined, WAIT);

  // Sorting.
  await page.click('button.sort[data-key="worker"]');
  await waitFirstRow(page, naturalSorted(sut.workers).at(-1)!);
  t.pass('worker descending');
  await page.click('button.sort[data-key="hashrate"]');
  await page.waitForFunction(() => (document.querySelector('.head-row [aria-sort="descending"] .sort') as HTMLElement | null)?.dataset.key === 'hashrate', undefined, WAIT);
  await page.waitForFunction(() => document.querySelector('#grid-body .row:not([hidden])') !== null, undefined, WAIT);
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r(null))));
  // Read every drawn row's hashrate in one go, in screen order.
  const rates = (
    await page.$$eval(
      '#grid-body .row:not([hidden])',
      (rows, col) =>
        rows
          .map((r) => ({ top: new DOMMatrix(getComputedStyle(r).transform).m42, text: r.children[col]!.textContent ?? '' }))
          .sort((a, b) => a.top - b.top)
          .map((r) => r.text),
      COL.hashrate,
    )
  ).map(hashrate);
  t.ok(
    rates.every((r, i) => i === 0 || r <= rates[i - 1]! * 1.0001),
    'hashrate descending',
  );
  await page.click('button.sort[data-key="worker"]');
  await waitFirstRow(page, naturalSorted(sut.workers)[0]!);

  // A device's hashrate chart, from its history in the JSON API.
  const picked = sut.workers[7]!;
  await page.click(`#grid-body .row[data-worker="${picked}"]`);
  await page.waitForFunction(() => document.getElementById('chart-note')!.hidden, undefined, WAIT);
  t.equal(await page.textContent('#detail-title'), picked);
  // The line and its last point are drawn in the accent blue (grid and labels are grey).
  const inked = await page.$eval('#chart', (c) => {
    const canvas = c as HTMLCanvasElement;
    const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i + 3]! > 200 && data[i + 2]! > 180 && data[i]! < 90) n++;
    return n;
  });
  t.ok(inked >= 10, `the hashrate is drawn (${inked} accent pixels)`);
  t.match(await page.getAttribute(`#grid-body .row[data-worker="${picked}"]`, 'class'), /selected/);

  await mkdir(OUT_DIR, { recursive: true });
  const shot = join(OUT_DIR, 'dashboard.png');
  await page.screenshot({ path: shot });
  t.comment(`screenshot: ${shot}`);
  t.ok(existsSync(shot), 'screenshot saved');

  t.same(pageErrors, [], 'no script error');
  t.same(consoleErrors, [], 'no console error (a CSP violation would be one)');

  // The proxy restarts: the page says so, reconnects by itself and shows the new state.
  await sut.stopProxy();
  await page.waitForFunction(() => document.getElementById('conn')!.dataset.state === 'reconnecting', undefined, WAIT);
  t.pass('the page noticed the proxy went away');
  await sut.startProxy();
  await page.waitForFunction(() => document.getElementById('conn')!.dataset.state === 'live', undefined, WAIT);
  // The restarted proxy starts from nothing; the devices come back by themselves, except the killed one.
  await page.waitForFunction(() => document.getElementById('count')!.textContent === '23', undefined, { timeout: 60_000, polling: 100 });
  t.equal(await page.$(`#grid-body .row[data-worker="${victim}"]`), null, 'the killed device is not in the new proxy');
  t.equal(sut.stats.deviceCount, 23, 'the page shows what the restarted proxy knows');
  await page.waitForFunction(() => document.querySelector<HTMLElement>('#owner-list li[data-owner="alice"] .owner-payout')?.dataset.amount !== undefined, undefined, WAIT);
  t.equal(await page.getAttribute('#owner-list li[data-owner="alice"] .owner-payout', 'data-amount'), splitOf.alice!, "alice's last payout read again from the books by the restarted proxy");
  t.pass('reconnected by itself and shows the restarted proxy');

  const foreign = requests.filter((u) => !u.startsWith(`http://127.0.0.1:${port}/`) && !u.startsWith(`ws://127.0.0.1:${port}/`));
  t.same(foreign, [], 'no request to any other host');
  t.ok(requests.some((u) => u.startsWith(`http://127.0.0.1:${port}/api/devices/`)), 'history came from the JSON API');
  t.same(pageErrors, [], 'no script error after the restart');
});

t.test('routes: which device mines where, and the split achieved against the weights', { skip, timeout: 240_000 }, async (t) => {
  const pool = (name: string) => ({ name, url: `stratum+tcp://${name}:3333`, user: 'u', password: 'x' });
  const specs: RouteSpec[] = [
    { name: 'alice', fallback: 'default', targets: [{ name: 'alice-own', weight: 7, pools: [pool('alice-pool')] }, { name: 'fee', weight: 3, pools: [pool('fee-pool')] }] },
    { name: 'default', fallback: 'none', targets: [{ name: 'default', weight: 1, pools: [pool('main')] }] },
  ];
  // 40 devices: the first 20 are alice's, 14 on her own account and 6 on the fee target; the rest default.
  const placeOf = (i: number) => (i < 14 ? { route: 'alice', target: 'alice-own' } : i < 20 ? { route: 'alice', target: 'fee' } : { route: 'default', target: 'default' });
  // Device 13 (on alice-own) is time-sliced, 97% there and 3% on the fee target.
  const splitOf = (i: number) => (i === 13 ? ({ kind: 'sliced', slices: [{ target: 'alice-own', fraction: 0.97 }, { target: 'fee', fraction: 0.03 }] } as const) : null);
  const sut = await startSut(t, { kind: 'synthetic', devices: 40, intervalMs: 500, routes: { specs, placeOf, splitOf } });
  const context = await launch(t);
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(sut.pageUrl);
  await page.waitForFunction(() => document.getElementById('count')?.textContent === '40', undefined, WAIT);

  // Each row names the target its device mines on (the route in its tooltip), as the farm has it; a
  // time-sliced device its targets with the part of its time on each.
  const sliced = sut.workers[13]!;
  t.match(sut.stats.device(sliced), { split: 'sliced', target: 'alice-own' });
  await page.fill('#filter', sliced);
  await page.waitForFunction(() => document.getElementById('count')!.textContent === '1 of 40', undefined, WAIT);
  t.equal(await cellText(page, sliced, COL.target), 'sliced: alice-own 97% / fee 3%', 'a sliced device shows its split');
  t.equal(await page.$eval(`#grid-body .row[data-worker="${sliced}"]`, (row, c) => (row.children[c] as HTMLElement).title, COL.target), 'route alice, target alice-own now; sliced: alice-own 97% / fee 3%', 'its tooltip says where it mines now');
  await page.click(`#grid-body .row[data-worker="${sliced}"]`);
  await page.waitForFunction(() => document.getElementById('f-split')?.textContent !== '', undefined, WAIT);
  t.equal(await page.textContent('#f-split'), 'sliced: alice-own 97% / fee 3%', 'and so do its details');
  await page.fill('#filter', '');
  await page.waitForFunction(() => document.getElementById('count')!.textContent === '40', undefined, WAIT);
  for (const w of await shownWorkers(page)) {
    const d = sut.stats.device(w)!;
    if (d.split === 'sliced') continue;
    t.equal(await cellText(page, w, COL.target), d.target, `${w} mines on ${d.target}`);
    t.equal(await page.$eval(`#grid-body .row[data-worker="${w}"]`, (row, c) => (row.children[c] as HTMLElement).title, COL.target), `route ${d.route}, target ${d.target}`);
  }
  // Filter by target.
  await page.fill('#filter', 'alice-own');
  await page.waitForFunction(() => document.getElementById('count')!.textContent === '14 of 40', undefined, WAIT);
  t.ok((await shownWorkers(page)).every((w) => sut.stats.device(w)!.target === 'alice-own'), 'filter by target');
  await page.fill('#filter', '');

  // The routes panel: each route, then each target with its weight, the split achieved, devices and hashrate.
  await page.waitForFunction(() => document.querySelectorAll('#route-list li.route-target').length === 3, undefined, WAIT);
  t.same(await page.$$eval('#route-list li', (items) => items.map((li) => [li.className.split(' ')[0], (li as HTMLElement).dataset.route, (li as HTMLElement).dataset.target ?? null])), [
    ['route-head', 'alice', null],
    ['route-target', 'alice', 'alice-own'],
    ['route-target', 'alice', 'fee'],
    ['route-head', 'default', null],
    ['route-target', 'default', 'default'],
  ]);
  const shown = await page.$$eval('#route-list li.route-target', (items) =>
    items.map((li) => ({
      target: (li as HTMLElement).dataset.target!,
      achieved: Number((li.querySelector('.target-achieved') as HTMLElement).dataset.share),
      achievedText: li.querySelector('.target-achieved')!.textContent,
      weight: li.querySelector('.target-weight')!.textContent,
      devices: li.querySelector('.target-devices')!.textContent,
      fill: parseFloat((li.querySelector('.target-fill') as HTMLElement).style.width),
      mark: parseFloat((li.querySelector('.target-mark') as HTMLElement).style.left),
    })),
  );
  const farm = new Map(sut.stats.routeList().flatMap((r) => r.targets.map((x) => [x.name, x] as const)));
  t.same(shown.map((x) => [x.target, x.weight, x.devices, x.mark]), [
    ['alice-own', 'weight 70.0%', '14 / 14 devices', 70],
    ['fee', 'weight 30.0%', '6 / 6 devices', 30],
    ['default', 'weight 100.0%', '20 / 20 devices', 100],
  ], 'weights from the routes in force, devices placed on each target');
  for (const x of shown) {
    const f = farm.get(x.target)!;
    // The page trails the farm by up to a tick; 10 minutes of history make a tick's shares a small part.
    t.ok(Math.abs(x.achieved - f.workShare) < 0.01, `${x.target}: achieved ${x.achievedText} is the farm's ${(f.workShare * 100).toFixed(2)}%`);
    t.ok(Math.abs(x.fill - x.achieved * 100) < 0.01, `${x.target}: the bar is the split achieved (${x.fill}%)`);
  }
  t.ok(Math.abs(shown[0]!.achieved - 0.7) < 0.1 && Math.abs(shown[1]!.achieved - 0.3) < 0.1, "alice's split: 14 and 6 devices of about the same speed, about 70/30");
  // Each target mines on its own pool: the pool card counts them, the pools and connections name their target.
  t.equal(await page.textContent('#t-pool'), '3 pools', 'one active pool per target');
  t.same(await page.$$eval('#pool-list li .pool-url', (els) => els.map((e) => e.textContent)), [
    'target alice-own · stratum+tcp://alice-pool.pool.example:3333',
    'target fee · stratum+tcp://fee-pool.pool.example:3333',
    'target default · stratum+tcp://main.pool.example:3333',
  ]);
  t.same(await page.$$eval('#connection-list li', (els) => els.map((e) => (e as HTMLElement).dataset.target)), ['alice-own', 'fee', 'default']);
  await mkdir(OUT_DIR, { recursive: true });
  await page.screenshot({ path: join(OUT_DIR, 'dashboard-routes.png') });
  t.same(pageErrors, [], 'no script error');
});

t.test('blocks: each solo block with its height, hash, worker, dashd\'s answer, its place on the best chain and reward; updated live', { skip, timeout: 240_000 }, async (t) => {
  const sut = await startSut(t, { kind: 'synthetic', devices: 6, intervalMs: 300 });
  const context = await launch(t);
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(sut.pageUrl);
  await page.waitForFunction(() => document.getElementById('count')?.textContent === '6', undefined, WAIT);
  t.equal(await page.textContent('#block-list'), 'No block found solo yet.', 'no solo block: a note');

  const [w0, w1, w2] = sut.workers;
  const hash = (n: number) => `0000000000000${n}a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071829${n}`.slice(0, 64);
  const base = { route: 'default', target: 'default', connection: 0, pool: 'own-dashd', sessionId: 1, shareId: 1, coinbaseValue: 300_000_000, payoutAddress: 'XfarmPayoutAddress1234567890', at: Date.now() };
  sut.bus.emit('block.submitted', { ...base, worker: w0!, hash: hash(1), height: 2_100_000, reward: 168_123_456, result: 'accepted', reason: null });
  sut.bus.emit('block.submitted', { ...base, worker: w1!, hash: hash(2), height: 2_100_001, reward: 150_000_000, result: 'rejected', reason: 'bad-cb-payee' });
  sut.bus.emit('block.submitted', { ...base, worker: w2!, hash: hash(3), height: 2_100_002, reward: 150_000_000, result: 'inconclusive', reason: 'inconclusive' });
  await page.waitForFunction(() => document.querySelectorAll('#block-list li.block').length === 3, undefined, WAIT);
  const items = () =>
    page.$$eval('#block-list li.block', (els) =>
      els.map((li) => ({
        hash: (li as HTMLElement).dataset.hash,
        cls: li.className,
        height: li.querySelector('.block-height')!.textContent,
        state: li.querySelector('.block-state')!.textContent,
        reward: li.querySelector('.block-reward')!.textContent,
        worker: li.querySelector('.block-worker')!.textContent,
        where: li.querySelector('.block-where')!.textContent,
        hashTitle: (li.querySelector('.block-hash') as HTMLElement).title,
        reason: li.querySelector('.block-reason')?.textContent ?? null,
      })),
    );
  const first = await items();
  t.same(
    first.map((b) => [b.hash, b.cls, b.height, b.state, b.reward, b.reason]),
    [
      [hash(3), 'block waiting', '#2100002', 'inconclusive', '1.50000000 DASH', null],
      [hash(2), 'block bad', '#2100001', 'rejected', '1.50000000 DASH', 'bad-cb-payee'],
      [hash(1), 'block good', '#2100000', 'accepted', '1.68123456 DASH', null],
    ],
    'newest first; dashd\'s answer; a rejection with its reason',
  );
  t.same(first.map((b) => b.worker), [w2, w1, w0], 'the device that found each');
  t.equal(first[2]!.where, `${hash(1).slice(0, 8)}…${hash(1).slice(-8)} · dashd own-dashd`, 'the hash (shortened), the dashd');
  t.equal(first[2]!.hashTitle, hash(1), 'the whole hash in its tooltip');
  t.equal(await page.textContent('#block-count'), '3');

  // The watcher's news reaches the page: in the chain, then chainlocked; the inconclusive one orphaned.
  sut.bus.emit('block.status', { pool: 'own-dashd', hash: hash(1), height: 2_100_000, status: 'in-chain', confirmations: 1, chainlock: false, reason: "on dashd's best chain, 1 confirmation", at: Date.now() });
  await page.waitForFunction((h) => document.querySelector(`#block-list li[data-hash="${h}"]`)?.getAttribute('data-status') === 'in-chain', hash(1), WAIT);
  t.equal((await items())[2]!.state, 'accepted · in chain (1 conf.)');
  sut.bus.emit('block.status', { pool: 'own-dashd', hash: hash(1), height: 2_100_000, status: 'chainlocked', confirmations: 2, chainlock: true, reason: 'a ChainLock covers it (2 confirmations)', at: Date.now() });
  sut.bus.emit('block.status', { pool: 'own-dashd', hash: hash(3), height: 2_100_002, status: 'orphaned', confirmations: -1, chainlock: false, reason: 'not on the best chain (confirmations -1) after 3 checks', at: Date.now() });
  await page.waitForFunction((h) => document.querySelector(`#block-list li[data-hash="${h}"]`)?.getAttribute('data-status') === 'orphaned', hash(3), WAIT);
  await page.waitForFunction((h) => document.querySelector(`#block-list li[data-hash="${h}"]`)?.getAttribute('data-status') === 'chainlocked', hash(1), WAIT);
  const after = await items();
  t.same(
    after.map((b) => [b.cls, b.state, b.reason]),
    [
      ['block bad', 'inconclusive · orphaned', 'not on the best chain (confirmations -1) after 3 checks'],
      ['block bad', 'rejected', 'bad-cb-payee'],
      ['block good', 'accepted · chainlocked', null],
    ],
  );
  t.same(
    await page.$$eval('#block-list li.block', (els) => els.map((li) => getComputedStyle(li.querySelector('.block-state')!).color)),
    // The colours of the variables, as the page computes them (no named function inside: the page has no __name).
    await page.evaluate(() =>
      ['--bad', '--bad', '--gold'].map((v) => {
        const probe = document.createElement('span');
        probe.style.color = getComputedStyle(document.documentElement).getPropertyValue(v).trim();
        document.body.append(probe);
        const c = getComputedStyle(probe).color;
        probe.remove();
        return c;
      }),
    ),
    'lost blocks in red, the chainlocked one in gold',
  );
  // The events panel has each block's line too.
  const events = await page.$$eval('#event-list li.ev-block .msg', (els) => els.map((e) => e.textContent));
  t.ok(events.some((m) => m!.startsWith('*** BLOCK REJECTED by dashd own-dashd (bad-cb-payee) *** height 2100001')), 'the rejection in the events');
  t.ok(events.some((m) => m === `block 2100000 ${hash(1)} on dashd own-dashd: chainlocked (a ChainLock covers it (2 confirmations))`), 'the ChainLock in the events');
  await mkdir(OUT_DIR, { recursive: true });
  await page.locator('section.blocks').screenshot({ path: join(OUT_DIR, 'dashboard-blocks.png') });
  t.same(pageErrors, [], 'no script error');
});

t.test('10,000 devices: the table stays virtual; update cost measured', { skip, timeout: 240_000 }, async (t) => {
  const DEVICES = 10_000;
  const started = Date.now();
  const sut = await startSut(t, { kind: 'synthetic', devices: DEVICES, intervalMs: 1000 });
  t.comment(`farm of ${DEVICES} devices with 10 minutes of history ready in ${Date.now() - started} ms`);
  const context = await launch(t);
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(sut.pageUrl);
  await page.waitForFunction(() => document.getElementById('count')?.textContent === '10,000', undefined, { timeout: 60_000, polling: 100 });

  type Perf = { messages: number; lastApplyMs: number; lastRenderMs: number; lastUpdateMs: number; lastMessageBytes: number; lastMessageDevices: number; rowElements: number };
  const perf = () => page.evaluate(() => ({ ...(window as unknown as { dashboardPerf: Perf }).dashboardPerf }));
  const samples: Perf[] = [];
  const server: { buildMs: number; bytes: number; changed: number }[] = [];
  let seen = (await perf()).messages;
  const deadline = Date.now() + 60_000;
  while (samples.length < 8 && Date.now() < deadline) {
    await sleep(100);
    const p = await perf();
    if (p.messages > seen && p.lastRenderMs > 0) {
      seen = p.messages;
      samples.push(p);
      const tick = sut.feed!.stats().lastTick!;
      server.push({ buildMs: tick.buildMs, bytes: tick.bytes, changed: tick.changed });
    }
  }
  t.ok(samples.length >= 3, `deltas measured (${samples.length})`);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const max = (xs: number[]) => Math.max(...xs);
  t.comment(
    `page, per delta with ${DEVICES} devices (median / max of ${samples.length}): ` +
      `${median(samples.map((s) => s.lastMessageDevices))} devices changed, ${(median(samples.map((s) => s.lastMessageBytes)) / 1e6).toFixed(2)} MB; ` +
      `parse+apply ${median(samples.map((s) => s.lastApplyMs)).toFixed(1)} / ${max(samples.map((s) => s.lastApplyMs)).toFixed(1)} ms; ` +
      `filter+sort+draw ${median(samples.map((s) => s.lastRenderMs)).toFixed(1)} / ${max(samples.map((s) => s.lastRenderMs)).toFixed(1)} ms; ` +
      `message to painted ${median(samples.map((s) => s.lastUpdateMs)).toFixed(1)} / ${max(samples.map((s) => s.lastUpdateMs)).toFixed(1)} ms`,
  );
  t.comment(
    `feed, per tick: build+serialize ${median(server.map((s) => s.buildMs)).toFixed(1)} / ${max(server.map((s) => s.buildMs)).toFixed(1)} ms ` +
      `for ${median(server.map((s) => s.changed))} changed devices`,
  );

  const rowElements = await page.$$eval('#grid-body .row', (rows) => rows.length);
  t.ok(rowElements < 100, `only the rows in view exist in the page (${rowElements} of ${DEVICES})`);

  // Scroll to the end: the last device by name is drawn.
  const last = naturalSorted(sut.workers).at(-1)!;
  await page.$eval('#grid-body', (b) => (b.scrollTop = b.scrollHeight));
  await page.waitForFunction((w) => document.querySelector(`#grid-body .row[data-worker="${w}"]:not([hidden])`) !== null, last, WAIT);
  t.pass(`scrolled to the last device (${last})`);

  // Filter and sort over 10,000 rows.
  await page.fill('#filter', 'rack-250.');
  await page.waitForFunction(() => document.getElementById('count')!.textContent === '40 of 10,000', undefined, WAIT);
  t.pass('name filter over 10,000 devices');
  const sortMs = await page.evaluate(async () => {
    const filter = document.getElementById('filter') as HTMLInputElement;
    filter.value = '';
    filter.dispatchEvent(new Event('input'));
    await new Promise((r) => requestAnimationFrame(() => r(null)));
    const t0 = performance.now();
    (document.querySelector('button.sort[data-key="hashrate"]') as HTMLButtonElement).click();
    await new Promise((r) => requestAnimationFrame(() => r(null)));
    return performance.now() - t0;
  });
  t.comment(`sorting 10,000 devices by hashrate, click to next frame: ${sortMs.toFixed(1)} ms`);
  // This farm keeps no books: the owners panel says so and shows no payout.
  t.match(await page.textContent('#owner-books'), /^Books off: /, 'books off: the owners panel says so');
  t.ok(await page.isVisible('#owner-books'));
  t.equal(await page.$$eval('#owner-list .owner-payout', (els) => els.length), 0, 'no payout line without books');
  await mkdir(OUT_DIR, { recursive: true });
  const shot = join(OUT_DIR, 'dashboard-10k.png');
  await page.screenshot({ path: shot });
  t.comment(`screenshot: ${shot}`);
  t.same(pageErrors, [], 'no script error');
});
