// Dash Farm Proxy dashboard: plain browser JavaScript, no framework, no build step, no other host.
// Data comes from the proxy's websocket feed (src/observe/feed.ts): one snapshot on connect, then a delta
// about once a second with only the devices that changed. The device table renders only the rows in
// view (virtual scrolling), so 10,000 devices cost the same to draw as 40.
'use strict';

(() => {
  const ROW_HEIGHT = 30;
  const OVERSCAN = 6;
  /** Rejected / (accepted + rejected) above this highlights a device. */
  const HIGH_REJECT = 0.05;
  const MAX_EVENTS = 200;
  const HISTORY_REFRESH_MS = 10_000;
  const RECONNECT_MIN_MS = 500;
  const RECONNECT_MAX_MS = 15_000;

  const token = new URLSearchParams(location.search).get('token');
  const $ = (id) => document.getElementById(id);

  // ---------- formatting ----------

  const integer = new Intl.NumberFormat('en-US');
  const HASH_UNITS = ['H/s', 'kH/s', 'MH/s', 'GH/s', 'TH/s', 'PH/s', 'EH/s'];
  const SI = ['', 'k', 'M', 'G', 'T', 'P', 'E'];

  function scaled(n) {
    const digits = n >= 100 ? 0 : n >= 10 ? 1 : 2;
    return n.toFixed(digits);
  }

  function formatHashrate(h) {
    if (!Number.isFinite(h) || h <= 0) return '0 H/s';
    let i = 0;
    while (h >= 999.5 && i < HASH_UNITS.length - 1) {
      h /= 1000;
      i++;
    }
    return `${scaled(h)} ${HASH_UNITS[i]}`;
  }

  function formatDifficulty(d) {
    if (!Number.isFinite(d) || d <= 0) return '–';
    if (d >= 1000) {
      let i = 0;
      while (d >= 999.5 && i < SI.length - 1) {
        d /= 1000;
        i++;
      }
      return `${scaled(d)}${SI[i]}`;
    }
    if (d >= 0.01) return String(Number(d.toPrecision(3)));
    return d.toExponential(2).replace('e-', 'e−');
  }

  function formatPercent(r) {
    if (!Number.isFinite(r) || r <= 0) return '0%';
    const p = r * 100;
    return `${p >= 10 ? p.toFixed(1) : p.toFixed(2)}%`;
  }

  /** A fraction of a device's time, as a plain percentage ("97%", "33.3%"). */
  function formatFraction(f) {
    return `${Number((f * 100).toFixed(1))}%`;
  }

  /** A device's split (DeviceView.split): "sliced: main 97% / fee 3%", or null when it is whole. */
  function slicedText(d) {
    if (d.split !== 'sliced') return null;
    return `sliced: ${d.slices.map((s) => `${s.target} ${formatFraction(s.fraction)}`).join(' / ')}`;
  }

  /** Where the device mines, for a tooltip: its route and target now, and why it is whole when the split could not slice it. */
  function placeTitle(d) {
    if (d.target === null) return 'not placed yet';
    const now = `route ${d.route}, target ${d.target}`;
    if (d.split === 'sliced') return `${now} now; ${slicedText(d)}`;
    return d.wholeBecause ? `${now}; kept whole: ${d.wholeBecause}` : now;
  }

  function formatAge(ms) {
    if (ms === null) return '–';
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return `${s}s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
    const h = Math.floor(m / 60);
    if (h < 48) return `${h}h ${String(m % 60).padStart(2, '0')}m`;
    return `${Math.floor(h / 24)}d`;
  }

  function formatClock(at) {
    const d = new Date(at);
    return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
  }

  /** "rig-2" before "rig-10": digit runs padded, so plain string comparison sorts naturally. */
  function naturalKey(name) {
    return name.toLowerCase().replace(/\d+/g, (run) => run.padStart(12, '0'));
  }

  // ---------- state ----------

  /** worker -> DeviceView (+ _key: natural sort key, _search: lower-case worker, owner and IP). */
  const devices = new Map();
  /** The filtered, sorted devices: what the table shows. */
  let view = [];
  let summary = null;
  let pools = [];
  let connections = [];
  /** OwnerView[] (src/observe/farm-ledger.ts): every owner, with the devices it has now and its credited work. */
  let owners = [];
  /** The recent solo blocks (FoundBlock in src/observe/found-blocks.ts), newest first: a delta has them when they changed. */
  let blocks = [];
  /** PayoutsView (src/observe/owner-payouts.ts): each owner's last payout from the books, or books: false. */
  let payouts = { books: false, lastPayouts: {}, checkedAt: null, error: null };
  /** RouteView[] (src/observe/farm-ledger.ts): each route with its targets' weights and the split achieved. */
  let routes = [];
  let events = [];
  let sortKey = 'worker';
  let sortDir = 1;
  let filterText = '';
  let filterStatus = 'all';
  let selected = null;
  /** Server clock minus ours, so ages follow the proxy's clock. */
  let serverOffset = 0;
  let lastMessageAt = 0;
  let viewDirty = true;
  let frameRequested = false;

  const perf = {
    messages: 0,
    snapshots: 0,
    lastMessageBytes: 0,
    lastMessageDevices: 0,
    /** JSON.parse + applying the message to the store (ms). */
    lastApplyMs: 0,
    maxApplyMs: 0,
    /** Filter + sort + drawing the visible rows, in the animation frame after a message (ms). */
    lastRenderMs: 0,
    maxRenderMs: 0,
    /** Time from a message's arrival to the end of the frame that shows it (ms). */
    lastUpdateMs: 0,
    renders: 0,
    rowElements: 0,
    devices: 0,
    shown: 0,
  };
  window.dashboardPerf = perf;
  let messageArrivedAt = 0;

  const serverNow = () => Date.now() + serverOffset;
  const isProblem = (d) => !d.online || d.rejectRate > HIGH_REJECT;

  // ---------- columns ----------

  // Each cell also gets the class `col-<key>` (style.css hides low-value columns by it when the table is
  // narrow). `title: true`: the cell's tooltip repeats its text, for names cut short with an ellipsis.
  const COLUMNS = [
    { key: 'worker', label: 'Worker', cls: 'c-worker', value: (d) => d._key, text: (d) => d.worker, title: true },
    { key: 'owner', label: 'Owner', cls: 'c-owner', value: (d) => d.owner, text: (d) => d.owner, title: true },
    // Where the device mines: its target (names are unique proxy-wide); the tooltip names the route too.
    // A time-sliced device shows its targets with the part of its time on each.
    { key: 'target', label: 'Target', cls: 'c-target', value: (d) => d.target ?? '', text: (d) => slicedText(d) ?? d.target ?? '–', title: placeTitle },
    { key: 'status', label: 'Status', cls: 'c-status', value: (d) => (d.online ? 0 : 1), text: (d) => (d.online ? 'online' : 'offline') },
    { key: 'hashrate', label: 'Hashrate', cls: 'c-num', value: (d) => d.hashrate, text: (d) => formatHashrate(d.hashrate), firstDir: -1 },
    { key: 'difficulty', label: 'Difficulty', cls: 'c-num', value: (d) => d.difficulty, text: (d) => formatDifficulty(d.difficulty), firstDir: -1 },
    { key: 'accepted', label: 'Accepted', cls: 'c-num', value: (d) => d.accepted, text: (d) => integer.format(d.accepted), firstDir: -1 },
    { key: 'rejected', label: 'Rejected', cls: 'c-num', value: (d) => d.rejected, text: (d) => integer.format(d.rejected), firstDir: -1 },
    { key: 'rejectRate', label: 'Reject %', cls: 'c-num c-reject', value: (d) => d.rejectRate, text: (d) => formatPercent(d.rejectRate), firstDir: -1 },
    {
      key: 'lastShare',
      label: 'Last share',
      cls: 'c-num c-age',
      value: (d) => (d.lastShareAt === null ? Infinity : -d.lastShareAt),
      text: (d) => (d.lastShareAt === null ? '–' : formatAge(serverNow() - d.lastShareAt)),
    },
    { key: 'ip', label: 'Address', cls: 'c-ip', value: (d) => d.ip, text: (d) => d.ip, title: true },
  ];

  // ---------- elements ----------

  const body = $('grid-body');
  const spacer = $('spacer');
  const headRow = $('head-row');
  const headButtons = new Map();

  for (const col of COLUMNS) {
    const cell = document.createElement('div');
    cell.className = `cell ${col.cls} col-${col.key}`;
    cell.setAttribute('role', 'columnheader');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'sort';
    button.dataset.key = col.key;
    button.textContent = col.label;
    const arrow = document.createElement('span');
    arrow.className = 'sort-arrow';
    arrow.setAttribute('aria-hidden', 'true');
    button.append(arrow);
    button.addEventListener('click', () => {
      if (sortKey === col.key) sortDir = -sortDir;
      else {
        sortKey = col.key;
        sortDir = col.firstDir ?? 1;
      }
      updateSortHeaders();
      invalidateView();
    });
    cell.append(button);
    headRow.append(cell);
    headButtons.set(col.key, { cell, arrow });
  }

  function updateSortHeaders() {
    for (const [key, { cell, arrow }] of headButtons) {
      const active = key === sortKey;
      cell.setAttribute('aria-sort', active ? (sortDir > 0 ? 'ascending' : 'descending') : 'none');
      cell.classList.toggle('sorted', active);
      arrow.textContent = active ? (sortDir > 0 ? '▲' : '▼') : '';
    }
  }
  updateSortHeaders();

  /** Row elements reused while scrolling; each remembers what it shows to skip unchanged DOM writes. */
  const rowPool = [];

  function makeRow() {
    const el = document.createElement('div');
    el.className = 'row';
    el.setAttribute('role', 'row');
    const cells = COLUMNS.map((col) => {
      const c = document.createElement('div');
      c.className = `cell ${col.cls} col-${col.key}`;
      c.setAttribute('role', 'cell');
      el.append(c);
      return c;
    });
    const row = { el, cells, texts: COLUMNS.map(() => ''), cls: 'row', worker: null, top: -1 };
    spacer.append(el);
    rowPool.push(row);
    perf.rowElements = rowPool.length;
    return row;
  }

  function paintRow(row, d, index) {
    if (row.worker !== d.worker) {
      row.worker = d.worker;
      row.el.dataset.worker = d.worker;
    }
    const top = index * ROW_HEIGHT;
    if (row.top !== top) {
      row.top = top;
      row.el.style.transform = `translateY(${top}px)`;
    }
    let cls = 'row';
    if (!d.online) cls += ' offline';
    if (d.rejectRate > HIGH_REJECT) cls += ' high-reject';
    if (d.worker === selected) cls += ' selected';
    if (index % 2 === 1) cls += ' odd';
    if (row.cls !== cls) {
      row.cls = cls;
      row.el.className = cls;
    }
    for (let c = 0; c < COLUMNS.length; c++) {
      const text = COLUMNS[c].text(d);
      if (row.texts[c] !== text) {
        row.texts[c] = text;
        row.cells[c].textContent = text;
        if (COLUMNS[c].title) row.cells[c].title = typeof COLUMNS[c].title === 'function' ? COLUMNS[c].title(d) : text;
      }
    }
    if (row.el.hidden) row.el.hidden = false;
  }

  // ---------- table: filter, sort, render ----------

  function invalidateView() {
    viewDirty = true;
    requestRender();
  }

  function requestRender() {
    if (frameRequested) return;
    frameRequested = true;
    requestAnimationFrame(render);
  }

  function rebuildView() {
    const text = filterText;
    const status = filterStatus;
    const out = [];
    for (const d of devices.values()) {
      if (status === 'online' && !d.online) continue;
      if (status === 'offline' && d.online) continue;
      if (status === 'problem' && !isProblem(d)) continue;
      if (text && !d._search.includes(text)) continue;
      out.push(d);
    }
    const col = COLUMNS.find((c) => c.key === sortKey) ?? COLUMNS[0];
    const value = col.value;
    const dir = sortDir;
    // Decorate once, so the comparator does no property lookups through the column accessor.
    const keyed = out.map((d) => ({ v: value(d), k: d._key, d }));
    keyed.sort((a, b) => (a.v < b.v ? -dir : a.v > b.v ? dir : a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
    view = keyed.map((x) => x.d);
    viewDirty = false;
  }

  function render() {
    frameRequested = false;
    const started = performance.now();
    if (viewDirty) rebuildView();
    const total = view.length;
    spacer.style.height = `${total * ROW_HEIGHT}px`;
    const height = body.clientHeight || 600;
    const first = Math.max(0, Math.floor(body.scrollTop / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(total, Math.ceil((body.scrollTop + height) / ROW_HEIGHT) + OVERSCAN);
    while (rowPool.length < last - first) makeRow();
    for (let i = 0; i < rowPool.length; i++) {
      const row = rowPool[i];
      const index = first + i;
      if (index < last) paintRow(row, view[index], index);
      else if (!row.el.hidden) row.el.hidden = true;
    }
    $('empty').hidden = total > 0 || devices.size === 0;
    setText('count', total === devices.size ? integer.format(total) : `${integer.format(total)} of ${integer.format(devices.size)}`);
    // Keep the header's columns over the rows' when the body shows a scrollbar.
    const scrollbar = `${body.offsetWidth - body.clientWidth}px`;
    if (headRow.parentElement.style.paddingRight !== scrollbar) headRow.parentElement.style.paddingRight = scrollbar;
    perf.devices = devices.size;
    perf.shown = total;
    perf.renders++;
    const ended = performance.now();
    if (messageArrivedAt) {
      perf.lastRenderMs = ended - started;
      perf.maxRenderMs = Math.max(perf.maxRenderMs, perf.lastRenderMs);
      perf.lastUpdateMs = ended - messageArrivedAt;
      messageArrivedAt = 0;
    }
  }

  body.addEventListener('scroll', requestRender, { passive: true });
  new ResizeObserver(requestRender).observe(body);

  body.addEventListener('click', (e) => {
    const rowEl = e.target instanceof Element ? e.target.closest('.row') : null;
    if (rowEl && rowEl.dataset.worker) select(rowEl.dataset.worker);
  });

  $('filter').addEventListener('input', (e) => {
    filterText = e.target.value.trim().toLowerCase();
    body.scrollTop = 0;
    invalidateView();
  });

  for (const button of $('status-filter').querySelectorAll('button')) {
    button.addEventListener('click', () => {
      filterStatus = button.dataset.status;
      for (const b of $('status-filter').querySelectorAll('button')) b.setAttribute('aria-pressed', String(b === button));
      body.scrollTop = 0;
      invalidateView();
    });
  }

  // ---------- messages ----------

  function keep(d) {
    const old = devices.get(d.worker);
    d._key = old ? old._key : naturalKey(d.worker);
    d._search = `${d.worker}\n${d.owner}\n${d.ip}\n${d.route ?? ''}\n${d.target ?? ''}`.toLowerCase();
    devices.set(d.worker, d);
  }

  function onMessage(text) {
    messageArrivedAt = performance.now();
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (!msg || (msg.type !== 'snapshot' && msg.type !== 'delta')) return;
    lastMessageAt = Date.now();
    serverOffset = msg.at - lastMessageAt;
    if (msg.type === 'snapshot') {
      devices.clear();
      events = [];
      perf.snapshots++;
      reconnectAttempt = 0;
      setConnection('live', 'Live');
    }
    for (const d of msg.devices) keep(d);
    if (msg.removed) for (const w of msg.removed) devices.delete(w);
    summary = msg.summary;
    pools = msg.pools;
    connections = msg.connections ?? [];
    owners = msg.owners ?? [];
    if (msg.payouts) payouts = msg.payouts;
    routes = msg.routes ?? [];
    const blocksCame = Array.isArray(msg.blocks);
    if (blocksCame) blocks = msg.blocks;
    if (msg.events.length) {
      events = msg.events.slice().reverse().concat(events).slice(0, MAX_EVENTS);
      renderEvents();
    } else if (msg.type === 'snapshot') {
      renderEvents();
    }
    renderTotals();
    renderPools();
    renderConnections();
    renderOwners();
    renderRoutes();
    if (blocksCame || msg.type === 'snapshot') renderBlocks();
    if (selected !== null) {
      renderFacts();
      if (msg.type === 'snapshot' || msg.devices.some((d) => d.worker === selected)) maybeRefreshHistory();
    }
    perf.messages++;
    perf.lastMessageBytes = text.length;
    perf.lastMessageDevices = msg.devices.length;
    perf.lastApplyMs = performance.now() - messageArrivedAt;
    perf.maxApplyMs = Math.max(perf.maxApplyMs, perf.lastApplyMs);
    invalidateView();
  }

  /** A <span> with a class, its text and, when given, a tooltip (text only: never markup). */
  function span(cls, text, title) {
    const el = document.createElement('span');
    el.className = cls;
    el.textContent = text;
    if (title) el.title = title;
    return el;
  }

  function setText(id, text) {
    const el = $(id);
    if (el.textContent !== text) el.textContent = text;
  }

  function renderTotals() {
    const s = summary;
    if (!s) return;
    setText('t-hashrate', formatHashrate(s.hashrate));
    setText('t-online', integer.format(s.devicesOnline));
    setText('t-devices', ` / ${integer.format(s.devicesOnline + s.devicesOffline)}`);
    setText('t-offline', integer.format(s.devicesOffline));
    $('t-offline-line').classList.toggle('bad', s.devicesOffline > 0);
    setText('t-accepted', integer.format(s.accepted));
    setText('t-forwarded', integer.format(s.forwarded));
    setText('t-rejected', integer.format(s.rejected));
    const rate = s.accepted + s.rejected === 0 ? 0 : s.rejected / (s.accepted + s.rejected);
    setText('t-reject-rate', `${formatPercent(rate)} of submitted`);
    $('t-reject-rate').classList.toggle('warn', rate > HIGH_REJECT);
    setText('t-blocks', integer.format(s.blockCandidates));
    setText('t-pools-up', `${s.poolsUp} of ${pools.length} pool${pools.length === 1 ? '' : 's'} up`);
    const active = activePools();
    setText('t-pool', active.length === 1 ? active[0].name : active.length > 1 ? `${active.length} pools` : pools.length === 0 ? 'no pool' : s.poolsUp > 0 ? 'standby' : 'all down');
    $('t-pool').title = active.map((p) => `${p.name} (target ${p.target})`).join(', ');
    $('t-pool-dot').className = `pool-dot ${active.length > 0 ? 'up' : s.poolsUp > 0 ? 'standby' : 'down'}`;
    setText('t-pool-accepted', integer.format(s.poolAccepted));
    setText('t-pool-rejected', integer.format(s.poolRejected));
    setText('t-pool-unanswered', integer.format(s.poolUnanswered));
  }

  /**
   * The pools being mined, one or more per target (each target has its own pool list): those marked
   * active, or a target's only pool that is up (no switch has happened yet on it).
   */
  function activePools() {
    const out = [];
    for (const target of new Set(pools.map((p) => p.target))) {
      const own = pools.filter((p) => p.target === target);
      const marked = own.filter((p) => p.active && p.up);
      const up = own.filter((p) => p.up);
      if (marked.length > 0) out.push(...marked);
      else if (up.length === 1 && !own.some((p) => p.active)) out.push(up[0]);
    }
    return out;
  }

  /** More than one target: pools and connections name theirs. */
  const manyTargets = () => new Set(pools.map((p) => p.target)).size > 1;

  function renderPools() {
    const active = new Set(activePools());
    const named = manyTargets();
    const items = pools.map((p) => {
      const isActive = active.has(p);
      return statusItem({
        state: isActive ? 'active' : p.up ? 'up' : 'down',
        dot: isActive ? 'up' : p.up ? 'standby' : 'down',
        name: p.name,
        stateText: isActive ? 'active' : p.up ? 'standby' : 'down',
        error: p.up ? null : p.lastError,
        detail: named ? `target ${p.target} · ${p.url}` : p.url,
        counts: `${integer.format(p.poolAccepted)} / ${integer.format(p.poolRejected)} / ${integer.format(p.poolUnanswered)}`,
        countsTitle: 'forwarded shares: accepted / rejected by the pool / unanswered (timeout, connection lost, no pool)',
      });
    });
    fillList($('pool-list'), items, 'No pool yet.');
  }

  /** Each upstream connection: the pool it mines on, its state, version mask and the shares forwarded on it. */
  function renderConnections() {
    setText('connection-count', connections.length > 1 ? String(connections.length) : '');
    const named = manyTargets();
    const items = connections.map((c) => {
      const state = c.up && c.active ? 'active' : c.up ? 'up' : 'down';
      const mask = c.versionMask === null ? 'no version rolling' : `version mask 0x${(c.versionMask >>> 0).toString(16).padStart(8, '0')}`;
      const li = statusItem({
        state,
        dot: state === 'active' ? 'up' : state === 'up' ? 'standby' : 'down',
        name: `#${c.index} ${c.pool ?? '(connecting)'}`,
        stateText: state,
        error: c.up ? null : c.lastError,
        detail: named && c.target !== null ? `target ${c.target} · ${mask}` : mask,
        counts: `${integer.format(c.forwarded)} → ${integer.format(c.poolAccepted)} / ${integer.format(c.poolRejected)} / ${integer.format(c.poolUnanswered)}`,
        countsTitle: 'forwarded → accepted / rejected by the pool / unanswered',
      });
      li.dataset.connection = String(c.index);
      if (c.target !== null) li.dataset.target = c.target;
      return li;
    });
    fillList($('connection-list'), items, 'No connection yet.');
  }

  /**
   * The owners panel: per owner, its share of the farm's work (credited at the time of each share: a
   * changed owners map never moves it, and a bar shows it), its devices online of all, their hashrate, its
   * work, what the pool made of its forwarded shares, and its last payout from the books (or a note that
   * the proxy keeps no books). Biggest share first.
   */
  function renderOwners() {
    setText('owner-count', owners.length > 1 ? String(owners.length) : '');
    const books = $('owner-books');
    const booksNote = !payouts.books
      ? 'Books off: the proxy keeps no ledger (ledger.path or ledger.url), so there are no payouts to show.'
      : payouts.error
        ? `Books unreadable: ${payouts.error}`
        : payouts.checkedAt === null
          ? 'Reading the books…'
          : '';
    setText('owner-books', booksNote);
    books.hidden = booksNote === '';
    books.classList.toggle('bad', payouts.books && payouts.error !== null);
    const sorted = owners.slice().sort((a, b) => b.work - a.work || (a.owner < b.owner ? -1 : 1));
    const items = sorted.map((o) => {
      const li = document.createElement('li');
      li.className = `owner${o.farm ? ' farm-owner' : ''}${o.configured ? '' : ' unconfigured'}`;
      li.dataset.owner = o.owner;
      const title = o.farm ? `${o.owner}: the farm itself (books.farmOwner)` : o.configured ? o.owner : `${o.owner}: no longer in the owners map; its credited work stays`;
      const bar = document.createElement('span');
      bar.className = 'owner-bar';
      bar.style.width = `${Math.min(100, Math.max(0, o.shareOfWork * 100))}%`;
      li.append(
        span('owner-name', o.owner, title),
        span('owner-share', formatPercent(o.shareOfWork), "share of the farm's work"),
        span('owner-devices', `${integer.format(o.devicesOnline)} / ${integer.format(o.devices)} online`, 'devices online / all its devices'),
        span('owner-hashrate', formatHashrate(o.hashrate)),
        span('owner-work', `work ${formatDifficulty(o.work)}`, `work: ${o.work} (difficulty units), ${integer.format(o.accepted)} accepted shares`),
        span(
          'owner-pool',
          `pool ${integer.format(o.poolAccepted)} / ${integer.format(o.poolRejected)} / ${integer.format(o.poolUnanswered)}`,
          `forwarded: ${o.forwarded} = pool accepted ${o.poolAccepted} + rejected ${o.poolRejected} + unanswered ${o.poolUnanswered} + in flight ${o.inFlight}`,
        ),
      );
      if (payouts.books) li.append(payoutPart(payouts.lastPayouts[o.owner]));
      li.append(bar);
      return li;
    });
    fillList($('owner-list'), items, 'No owner yet.');
  }

  /** "paid 0.12345678 DASH · 2h 05m ago" for an owner's last payout (its split's total), or "no payout yet". */
  function payoutPart(p) {
    if (!p) return span('owner-payout none', 'no payout yet', 'no recorded payout names this owner');
    const when = new Date(p.recordedAt).toISOString();
    const el = span(
      'owner-payout',
      `paid ${p.amount} DASH · ${formatAge(serverNow() - p.recordedAt)} ago`,
      `payout #${p.payoutId} of ${p.payoutAmount} DASH (${p.method.toUpperCase()}) for ${new Date(p.from).toISOString()} to ${new Date(p.to).toISOString()}, recorded ${when}`,
    );
    el.dataset.amount = p.amount;
    el.dataset.recordedAt = String(p.recordedAt);
    el.dataset.payoutId = String(p.payoutId);
    return el;
  }

  /**
   * The routes panel: per route, its devices and fallback; per target, the split achieved (its part of the
   * route's accepted work, a bar) against its weight (a mark on the bar and the percentage beside it), its
   * devices and their measured hashrate. A route with one target shows just that target.
   */
  function renderRoutes() {
    setText('route-count', routes.length > 1 ? String(routes.length) : '');
    const items = [];
    for (const r of routes) {
      const head = document.createElement('li');
      head.className = `route-head${r.configured ? '' : ' unconfigured'}`;
      head.dataset.route = r.name;
      head.append(
        span('route-name', r.name, r.configured ? `route ${r.name}` : `${r.name}: no longer configured; its counts stay`),
        span('route-meta', `${integer.format(r.devicesOnline)} / ${integer.format(r.devices)} online${r.devicesSliced > 0 ? ` · ${integer.format(r.devicesSliced)} sliced` : ''}${r.fallback === 'default' ? ' · falls back to default' : ''}`, r.devicesSliced > 0 ? `${integer.format(r.devicesSliced)} of its devices time-sliced among its targets` : undefined),
      );
      items.push(head);
      for (const x of r.targets) {
        const li = document.createElement('li');
        li.className = `route-target${x.configured ? '' : ' unconfigured'}`;
        li.dataset.route = r.name;
        li.dataset.target = x.name;
        const weight = x.weightShare === null ? '–' : formatPercent(x.weightShare);
        const achieved = span('target-achieved', formatPercent(x.workShare), `split achieved: ${x.work} of the route's accepted work (difficulty units)`);
        achieved.dataset.share = String(x.workShare);
        const weightEl = span('target-weight', `weight ${weight}`, x.weight === null ? 'not in the routes in force' : `weight ${x.weight} of the route's ${weight}`);
        if (x.weightShare !== null) weightEl.dataset.share = String(x.weightShare);
        const bar = document.createElement('span');
        bar.className = 'target-bar';
        const fill = document.createElement('span');
        fill.className = 'target-fill';
        fill.style.width = `${Math.min(100, Math.max(0, x.workShare * 100))}%`;
        bar.append(fill);
        if (x.weightShare !== null) {
          const mark = document.createElement('span');
          mark.className = 'target-mark';
          mark.style.left = `${Math.min(100, Math.max(0, x.weightShare * 100))}%`;
          bar.append(mark);
        }
        li.append(
          span('target-name', x.name, x.pools.length ? `pools: ${x.pools.join(' → ')}` : x.name),
          achieved,
          weightEl,
          span('target-devices', `${integer.format(x.devicesOnline)} / ${integer.format(x.devices)} devices`, 'devices placed on it now: online / all'),
          span('target-hashrate', formatHashrate(x.hashrate), `measured hashrate of its devices (${formatPercent(x.hashrateShare)} of the route's)`),
          bar,
        );
        items.push(li);
      }
    }
    fillList($('route-list'), items, 'No route yet.');
  }

  /** One line of the pools or connections panel: dot, name, state, a detail line and counts. */
  function statusItem(o) {
    const li = document.createElement('li');
    li.className = `pool ${o.state}`;
    const dot = span(`pool-dot ${o.dot}`, '');
    const state = span('pool-state', o.stateText);
    if (o.error) state.title = o.error;
    const counts = span('pool-counts', o.counts);
    counts.title = o.countsTitle;
    li.append(dot, span('pool-name', o.name), state, span('pool-url', o.detail), counts);
    return li;
  }

  function fillList(list, items, emptyText) {
    if (items.length === 0) {
      const li = document.createElement('li');
      li.className = 'muted';
      li.textContent = emptyText;
      items.push(li);
    }
    list.replaceChildren(...items);
  }

  /** Duffs as DASH with its 8 decimals (1 DASH = 100,000,000 duffs), in whole-number arithmetic. */
  function formatDash(duffs) {
    const whole = Math.floor(duffs / 1e8);
    return `${integer.format(whole)}.${String(duffs - whole * 1e8).padStart(8, '0')} DASH`;
  }

  /** A hash shortened for the list (the whole one in its tooltip): 00000000…d4e59f3c. */
  const shortHash = (h) => (h.length > 20 ? `${h.slice(0, 8)}…${h.slice(-8)}` : h);

  const SUBMIT_WORDS = { accepted: 'accepted', inconclusive: 'inconclusive', rejected: 'rejected', unanswered: 'no answer' };

  /**
   * The blocks panel: each solo block sent to dashd, newest first: its height, dashd's answer and its place on
   * the best chain now (in-chain with its confirmations, chainlocked, mature, orphaned), the reward to the
   * farm's address; the hash, the device that found it and the dashd; dashd's reason for a rejection.
   */
  function renderBlocks() {
    setText('block-count', blocks.length ? String(blocks.length) : '');
    const items = blocks.map((b) => {
      const li = document.createElement('li');
      const lost = b.result === 'rejected' || b.result === 'unanswered' || b.status === 'orphaned';
      const good = !lost && (b.result === 'accepted' || b.status !== null);
      li.className = `block ${lost ? 'bad' : good ? 'good' : 'waiting'}`;
      li.dataset.hash = b.hash;
      li.dataset.result = b.result;
      li.dataset.status = b.status ?? '';
      const place = b.status === null ? '' : b.status === 'in-chain' ? ` · in chain (${b.confirmations} conf.)` : ` · ${b.status}`;
      const state = span('block-state', `${SUBMIT_WORDS[b.result] ?? b.result}${place}`, b.statusReason ?? undefined);
      const where = document.createElement('span');
      where.className = 'block-where';
      where.append(span('block-hash', shortHash(b.hash), b.hash), ` · dashd ${b.pool}`);
      const worker = span('block-worker', b.worker, `found ${new Date(b.foundAt).toISOString()} by ${b.worker} (route ${b.route}, target ${b.target}); paid to ${b.payoutAddress}`);
      const reward = span('block-reward', formatDash(b.reward), `coinbase value ${formatDash(b.coinbaseValue)} (the masternode and superblock payments are the rest)`);
      li.append(span('block-height', `#${b.height}`), state, worker, reward, where);
      if (b.result !== 'accepted' && b.reason !== null && b.reason !== b.result) li.append(span('block-reason', b.reason));
      else if (b.status === 'orphaned' && b.statusReason) li.append(span('block-reason', b.statusReason));
      return li;
    });
    fillList($('block-list'), items, 'No block found solo yet.');
  }

  const EVENT_LABELS = { block: 'Block', pool: 'Pool', 'device-offline': 'Offline', 'device-online': 'Online' };

  function renderEvents() {
    const list = $('event-list');
    const items = events.map((e) => {
      const li = document.createElement('li');
      li.className = `event ev-${e.kind}`;
      const time = document.createElement('time');
      time.dateTime = new Date(e.at).toISOString();
      time.textContent = formatClock(e.at);
      const tag = document.createElement('span');
      tag.className = 'tag';
      tag.textContent = EVENT_LABELS[e.kind] ?? e.kind;
      const msg = document.createElement('span');
      msg.className = 'msg';
      msg.textContent = e.message;
      li.append(time, tag, msg);
      return li;
    });
    if (items.length === 0) {
      const li = document.createElement('li');
      li.className = 'muted';
      li.textContent = 'Nothing yet: blocks, pool changes and devices going offline appear here.';
      items.push(li);
    }
    list.replaceChildren(...items);
    setText('event-count', events.length ? String(events.length) : '');
  }

  // ---------- selected device: facts and chart ----------

  let history = null;
  let historyFor = null;
  let historyFetchedAt = 0;
  let historyInFlight = false;

  function select(worker) {
    selected = worker;
    history = null;
    historyFor = worker;
    historyFetchedAt = 0;
    setText('detail-title', worker);
    $('detail-title').title = worker;
    $('facts').hidden = false;
    renderFacts();
    drawChart();
    maybeRefreshHistory(true);
    requestRender();
  }

  function renderFacts() {
    const d = devices.get(selected);
    if (!d) {
      setText('detail-status', 'gone');
      return;
    }
    const status = $('detail-status');
    setText('detail-status', d.online ? 'online' : 'offline');
    status.className = `count badge ${d.online ? 'ok' : 'bad'}`;
    setText('f-owner', d.owner);
    $('f-owner').title = d.owner;
    setText('f-target', d.target === null ? '–' : d.target);
    $('f-target').title = placeTitle(d);
    setText('f-split', slicedText(d) ?? (d.wholeBecause ? `whole (${d.wholeBecause})` : 'whole'));
    setText('f-hashrate', formatHashrate(d.hashrate));
    setText('f-difficulty', formatDifficulty(d.difficulty));
    setText('f-accepted', integer.format(d.accepted));
    setText('f-rejected', `${integer.format(d.rejected)} (${formatPercent(d.rejectRate)})`);
    setText('f-last', d.lastShareAt === null ? '–' : `${formatAge(serverNow() - d.lastShareAt)} ago`);
    setText('f-ip', d.ip);
    $('f-ip').title = d.ip;
  }

  async function maybeRefreshHistory(force = false) {
    if (selected === null || historyInFlight) return;
    if (!force && Date.now() - historyFetchedAt < HISTORY_REFRESH_MS) return;
    const worker = selected;
    historyInFlight = true;
    historyFetchedAt = Date.now();
    try {
      const res = await fetch(`api/devices/${encodeURIComponent(worker)}`, {
        cache: 'no-store',
        headers: token ? { authorization: `Bearer ${token}` } : {},
      });
      if (worker !== selected) return;
      if (!res.ok) {
        history = { error: res.status === 404 ? 'No history for this device.' : `History unavailable (HTTP ${res.status}).` };
      } else {
        const body = await res.json();
        history = { ...body.history, connectedAt: body.device.connectedAt };
      }
      historyFor = worker;
      drawChart();
    } catch {
      if (worker === selected) {
        history = { error: 'History unavailable (no connection).' };
        drawChart();
      }
    } finally {
      historyInFlight = false;
    }
  }

  const canvas = $('chart');
  new ResizeObserver(() => drawChart()).observe(canvas);

  function niceStep(raw) {
    const p = 10 ** Math.floor(Math.log10(raw));
    const f = raw / p;
    return p * (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10);
  }

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function drawChart() {
    const note = $('chart-note');
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth;
    const h = canvas.clientHeight;
    if (w === 0 || h === 0) return;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    if (selected === null) {
      note.hidden = false;
      return;
    }
    if (!history || historyFor !== selected) {
      note.textContent = 'Loading history…';
      note.hidden = false;
      return;
    }
    if (history.error) {
      note.textContent = history.error;
      note.hidden = false;
      return;
    }
    // The newest bucket is still filling up: leave it out rather than draw a false drop at "now".
    const values = history.hashrate.slice(0, -1);
    const max = Math.max(...values, 0);
    note.hidden = max > 0;
    if (max === 0) {
      note.textContent =
        history.hashrate.at(-1) > 0
          ? `Collecting: the first point appears within ${history.bucketSeconds} s.`
          : 'No accepted shares in the last 10 minutes.';
    }

    const left = 64;
    const right = 8;
    const top = 10;
    const bottom = 22;
    const pw = w - left - right;
    const ph = h - top - bottom;
    const grid = cssVar('--grid');
    const muted = cssVar('--muted');
    const accent = cssVar('--accent');
    ctx.font = '11px system-ui, -apple-system, "Segoe UI", sans-serif';
    ctx.textBaseline = 'middle';
    ctx.lineWidth = 1;

    // Grid lines at round values: 1, 2, 2.5 or 5 times a power of ten, three or four of them.
    const step = max > 0 ? niceStep(max / 3) : 1;
    const lines = max > 0 ? Math.ceil((max * 1.05) / step) : 3;
    const yMax = step * lines;
    for (let i = 0; i <= lines; i++) {
      const y = Math.round(top + ph - (ph * i) / lines) + 0.5;
      ctx.strokeStyle = grid;
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(w - right, y);
      ctx.stroke();
      if (max > 0) {
        ctx.fillStyle = muted;
        ctx.textAlign = 'right';
        ctx.fillText(i === 0 ? '0' : formatHashrate(step * i), left - 8, y);
      }
    }
    ctx.textAlign = 'center';
    ctx.fillStyle = muted;
    const spanMin = Math.round((values.length * history.bucketSeconds) / 60);
    ctx.fillText(`−${spanMin} min`, left + 18, h - 9);
    ctx.fillText(`−${Math.round(spanMin / 2)} min`, left + pw / 2, h - 9);
    ctx.fillText('now', w - right - 12, h - 9);
    if (max === 0) return;

    const x = (i) => left + (pw * i) / (values.length - 1);
    const y = (v) => top + ph - (ph * v) / yMax;
    // A device that connected within the window has no past: start its line where it arrived rather
    // than draw zeros before it existed.
    let from = 0;
    const bucketMs = history.bucketSeconds * 1000;
    if (history.connectedAt !== null && history.connectedAt > history.start) {
      const arrived = Math.floor((history.connectedAt - history.start) / bucketMs);
      if (values.slice(0, arrived).every((v) => v === 0)) from = Math.min(arrived, values.length - 1);
    }
    const fill = ctx.createLinearGradient(0, top, 0, top + ph);
    fill.addColorStop(0, cssVar('--accent-fill'));
    fill.addColorStop(1, 'rgba(0, 141, 228, 0)');
    ctx.beginPath();
    ctx.moveTo(x(from), top + ph);
    for (let i = from; i < values.length; i++) ctx.lineTo(x(i), y(values[i]));
    ctx.lineTo(x(values.length - 1), top + ph);
    ctx.closePath();
    ctx.fillStyle = fill;
    ctx.fill();
    ctx.beginPath();
    for (let i = from; i < values.length; i++) (i === from ? ctx.moveTo : ctx.lineTo).call(ctx, x(i), y(values[i]));
    ctx.strokeStyle = accent;
    ctx.lineWidth = 2;
    ctx.lineJoin = 'round';
    ctx.stroke();
    const lastX = x(values.length - 1);
    const lastY = y(values[values.length - 1]);
    ctx.beginPath();
    ctx.arc(lastX, lastY, 3, 0, Math.PI * 2);
    ctx.fillStyle = accent;
    ctx.fill();
  }

  // ---------- connection ----------

  let socket = null;
  let reconnectAttempt = 0;
  let reconnectAt = 0;
  let reconnectTimer = null;

  function setConnection(state, text) {
    const conn = $('conn');
    conn.dataset.state = state;
    setText('conn-text', text);
    document.body.classList.toggle('disconnected', state !== 'live');
  }

  function connect() {
    reconnectTimer = null;
    setConnection('connecting', 'Connecting…');
    const url = new URL('ws', location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    url.search = token ? `?token=${encodeURIComponent(token)}` : '';
    url.hash = '';
    let ws;
    try {
      ws = new WebSocket(url);
    } catch {
      scheduleReconnect();
      return;
    }
    socket = ws;
    ws.addEventListener('message', (e) => {
      if (typeof e.data === 'string') onMessage(e.data);
    });
    ws.addEventListener('close', () => {
      if (socket !== ws) return;
      socket = null;
      scheduleReconnect();
    });
  }

  function scheduleReconnect() {
    // Exponential backoff with jitter, so a restarted proxy is not hit by every page at once.
    const base = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** reconnectAttempt);
    const delay = Math.round(base * (0.7 + Math.random() * 0.6));
    reconnectAttempt++;
    reconnectAt = Date.now() + delay;
    setConnection('reconnecting', 'Reconnecting');
    reconnectTimer = setTimeout(connect, delay);
    tickClock();
  }

  function tickClock() {
    const age = $('conn-age');
    const state = $('conn').dataset.state;
    if (state === 'reconnecting') {
      setText('conn-text', `Reconnecting in ${Math.max(0, Math.ceil((reconnectAt - Date.now()) / 1000))}s`);
      age.textContent = lastMessageAt ? `last data ${formatAge(Date.now() - lastMessageAt)} ago` : '';
    } else if (state === 'live' && lastMessageAt) {
      age.textContent = `updated ${formatClock(serverNow())}`;
      const silent = Date.now() - lastMessageAt;
      $('conn').classList.toggle('stale', silent > 5000);
      if (silent > 5000) age.textContent = `no data for ${formatAge(silent)}`;
    } else {
      age.textContent = '';
    }
  }

  // Ages tick every second on the client; only the visible rows are redrawn.
  setInterval(() => {
    tickClock();
    if (selected !== null) renderFacts();
    requestRender();
  }, 1000);

  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && !socket && reconnectTimer !== null) {
      clearTimeout(reconnectTimer);
      connect();
    }
  });

  renderEvents();
  connect();
})();
