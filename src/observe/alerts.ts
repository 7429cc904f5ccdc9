import { hostname } from 'node:os';
import type { Dispatcher } from 'undici';
import { DEFAULT_TARGET } from '../routing/default-route.js';
import { formatDifficulty } from '../util/format.js';
import { numberProblem, type NumberRule } from '../util/number-rule.js';
import { realTimers, type Timers } from '../util/timers.js';
import type { RejectReason } from '../stratum/errors.js';
import type { EventBus, ProxyEventMap } from '../core/events.js';
import type { FarmSummary, PresenceChange } from './farm-ledger.js';
import { PROXY_WORKER_FIELD, silentLogger, type Logger } from '../core/log.js';
import type { LedgerHealth } from '../books/ledger-writer.js';
import { formatExitCause, formatHashrate, formatSpan } from '../util/format.js';
import { dashText } from './found-blocks.js';
import { ALERT_KINDS, WEBHOOK_FORMATS, WebhookSender, type Alert, type AlertKind, type AlertSeverity, type WebhookConfig, type WebhookFormat } from './webhooks.js';

/**
 * Alerts that reach people: the proxy's events and the farm ledger (its summary, and when a worker goes
 * offline or comes back) turned into a few meaningful messages
 * for the configured webhooks (see webhooks.ts for formats and delivery).
 *
 * - device offline / back online: a device whose last session closed is reported only when it has not come
 *   back within `offlineGraceSeconds`; "back online" only for a device that was reported offline.
 * - pool down / back up / failover: on the pool.* events; a pool already reported down is not reported again
 *   until it is back up.
 * - farm hashrate drop: the farm hashrate (FarmLedger.summary, itself a 5-minute average) below its average
 *   over `hashrateAverageMinutes` by `hashrateDropPercent` or more; recovered at half that drop.
 * - reject rate high: rejected / (accepted + rejected) farm-wide over `rejectRateWindowMinutes`, with at
 *   least `rejectRateMinShares` shares in the window; back to normal below half the threshold.
 * - block candidate: at once, alone, never grouped, never rate-limited.
 * - solo blocks (a dashd upstream), at once and alone like a candidate: `block.accepted` (dashd took it, or
 *   found it inconclusive: info), `block.rejected` (dashd refused it, with its reason, or never answered:
 *   critical), then from the block watcher `block.orphaned` (its reward is lost: warning) or `block.final`
 *   (chainlocked, or mature: info).
 * - books down / caught up (when the books are kept: `watchBooks`): the books' writer cannot write (missing,
 *   locked, full, read-only, unreachable), told once per episode with the records waiting; then caught up,
 *   with the records written and dropped meanwhile. Read from the writer on the tick; counted there only.
 * - worker died (`start --workers N`): a worker process exited outside shutdown (worker.exited with a
 *   restart planned): at once, never grouped (each names its worker, pid, cause, devices and restart).
 *
 * No storm: events of one kind arriving within `groupWindowSeconds` become one message with a count and the
 * first `maxNamesListed` names (1,000 devices going offline at once is one message); each webhook also has a
 * rate limit and sends what waits meanwhile as one digest.
 *
 * The bus listeners only update maps and counters: grouping, checks and sending happen on a 1 s tick.
 */

// ---- configuration --------------------------------------------------------------------------------------

export interface AlertsConfig {
  webhooks: WebhookConfig[];
  /** The proxy's name in alerts (several proxies may share a webhook). Null: the host name. */
  instance: string | null;
  offlineGraceSeconds: number;
  groupWindowSeconds: number;
  maxNamesListed: number;
  /** 0 turns the hashrate alert off. */
  hashrateDropPercent: number;
  hashrateAverageMinutes: number;
  /** 0 turns the reject-rate alert off. */
  rejectRatePercent: number;
  rejectRateWindowMinutes: number;
  rejectRateMinShares: number;
  checkIntervalSeconds: number;
  requestTimeoutSeconds: number;
  maxAttempts: number;
  retryBaseSeconds: number;
  retryMaxSeconds: number;
  queueSize: number;
}

export const DEFAULT_ALERTS_CONFIG: AlertsConfig = {
  webhooks: [],
  instance: null,
  offlineGraceSeconds: 60,
  groupWindowSeconds: 10,
  maxNamesListed: 10,
  hashrateDropPercent: 30,
  hashrateAverageMinutes: 60,
  rejectRatePercent: 5,
  rejectRateWindowMinutes: 10,
  rejectRateMinShares: 100,
  checkIntervalSeconds: 30,
  requestTimeoutSeconds: 10,
  maxAttempts: 5,
  retryBaseSeconds: 1,
  retryMaxSeconds: 30,
  queueSize: 500,
};

type AlertNumbers = Omit<AlertsConfig, 'webhooks' | 'instance'>;

/** The bounds of each number in the alerts section (the configuration's schema is made from these). */
export const ALERT_NUMBER_RULES: Record<keyof AlertNumbers, NumberRule> = {
  offlineGraceSeconds: { min: 0, max: 86_400 },
  groupWindowSeconds: { min: 0, max: 3600 },
  maxNamesListed: { int: true, min: 1, max: 1000 },
  hashrateDropPercent: { min: 0, max: 99 },
  hashrateAverageMinutes: { min: 5, max: 10_080 },
  rejectRatePercent: { min: 0, max: 100 },
  rejectRateWindowMinutes: { min: 1, max: 1440 },
  rejectRateMinShares: { int: true, min: 1 },
  checkIntervalSeconds: { min: 1, max: 3600 },
  requestTimeoutSeconds: { positive: true, max: 300 },
  maxAttempts: { int: true, min: 1, max: 20 },
  retryBaseSeconds: { positive: true, max: 3600 },
  retryMaxSeconds: { positive: true, max: 3600 },
  queueSize: { int: true, min: 1, max: 100_000 },
};

export const DEFAULT_WEBHOOK_MAX_PER_MINUTE = 10;
export const WEBHOOK_MAX_PER_MINUTE_RULE: NumberRule = { int: true, min: 1, max: 600 };
export const WEBHOOK_FIELDS = ['name', 'url', 'format', 'headers', 'events', 'chatId', 'maxPerMinute'] as const;
/** RFC 9110 token characters: what a header name may be made of. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export class AlertsConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid alerts configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'AlertsConfigError';
  }
}

/** Validate the `alerts` section; throws AlertsConfigError listing every problem, each naming its field. */
export function validateAlertsConfig(raw: unknown, path = 'alerts'): AlertsConfig {
  const problems: string[] = [];
  const config = checkAlertsConfig(raw, problems, path);
  if (problems.length > 0) throw new AlertsConfigError(problems);
  return config;
}

/** Same checks, adding problems to `problems` (for a caller that gathers every config problem at once). */
export function checkAlertsConfig(raw: unknown, problems: string[], path = 'alerts'): AlertsConfig {
  if (raw === undefined || raw === null) return { ...DEFAULT_ALERTS_CONFIG, webhooks: [] };
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    problems.push(`${path} must be an object like {"webhooks": [{"url": "https://...", "format": "slack"}]} (got ${JSON.stringify(raw)})`);
    return { ...DEFAULT_ALERTS_CONFIG, webhooks: [] };
  }
  const obj = raw as Record<string, unknown>;
  const known = Object.keys(DEFAULT_ALERTS_CONFIG);
  for (const k of Object.keys(obj)) if (!known.includes(k)) problems.push(`${path}.${k}: unknown field (known: ${known.join(', ')})`);
  const value = (k: keyof AlertsConfig): unknown => (obj[k] === undefined ? DEFAULT_ALERTS_CONFIG[k] : obj[k]);
  const num = (k: keyof AlertsConfig, o: NumberRule): number =>
    checkNumber(`${path}.${k}`, value(k), o, problems, DEFAULT_ALERTS_CONFIG[k] as number);

  let instance: string | null = null;
  const rawInstance = value('instance');
  if (rawInstance !== null && rawInstance !== '') {
    if (typeof rawInstance !== 'string') problems.push(`${path}.instance must be a non-empty string or null (got ${JSON.stringify(rawInstance)})`);
    else instance = rawInstance;
  }

  const numbers = Object.fromEntries(Object.entries(ALERT_NUMBER_RULES).map(([k, rule]) => [k, num(k as keyof AlertsConfig, rule)]));
  const config: AlertsConfig = { webhooks: checkWebhooks(value('webhooks'), `${path}.webhooks`, problems), instance, ...(numbers as AlertNumbers) };
  if (config.retryMaxSeconds < config.retryBaseSeconds) {
    problems.push(`${path}.retryMaxSeconds (${config.retryMaxSeconds}) must be >= ${path}.retryBaseSeconds (${config.retryBaseSeconds})`);
  }
  return config;
}

function checkNumber(at: string, v: unknown, rule: NumberRule, problems: string[], fallback: number): number {
  const problem = numberProblem(at, v, rule);
  if (problem === null) return v as number;
  problems.push(problem);
  return fallback;
}

function checkWebhooks(raw: unknown, path: string, problems: string[]): WebhookConfig[] {
  if (!Array.isArray(raw)) {
    problems.push(`${path} must be a list of webhooks like [{"url": "https://...", "format": "slack"}] (got ${JSON.stringify(raw)})`);
    return [];
  }
  const out: WebhookConfig[] = [];
  const names = new Set<string>();
  raw.forEach((w: unknown, i) => {
    const at = `${path}[${i}]`;
    if (typeof w !== 'object' || w === null || Array.isArray(w)) {
      problems.push(`${at} must be an object with url and format`);
      return;
    }
    const hook = w as Record<string, unknown>;
    for (const k of Object.keys(hook)) if (!(WEBHOOK_FIELDS as readonly string[]).includes(k)) problems.push(`${at}.${k}: unknown field (known: ${WEBHOOK_FIELDS.join(', ')})`);

    // The URL is never echoed back: webhook URLs carry secrets (Slack's path, Telegram's bot token).
    let url = '';
    if (typeof hook.url !== 'string' || hook.url === '') {
      problems.push(`${at}.url must be the webhook's http:// or https:// URL`);
    } else {
      try {
        const parsed = new URL(hook.url);
        if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') problems.push(`${at}.url must be an http:// or https:// URL (got scheme ${parsed.protocol})`);
        else url = hook.url;
      } catch {
        problems.push(`${at}.url is not a valid URL`);
      }
    }

    let format: WebhookFormat = 'json';
    if (hook.format !== undefined) {
      if (typeof hook.format !== 'string' || !(WEBHOOK_FORMATS as readonly string[]).includes(hook.format)) {
        problems.push(`${at}.format must be one of ${WEBHOOK_FORMATS.join(', ')} (got ${JSON.stringify(hook.format)})`);
      } else {
        format = hook.format as WebhookFormat;
      }
    }

    let name = `webhook${i + 1}`;
    if (hook.name !== undefined) {
      if (typeof hook.name !== 'string' || hook.name.trim() === '') problems.push(`${at}.name must be a non-empty string`);
      else name = hook.name;
    }
    if (names.has(name)) problems.push(`${at}.name '${name}' is used twice`);
    names.add(name);

    const headers: Record<string, string> = {};
    if (hook.headers !== undefined) {
      if (typeof hook.headers !== 'object' || hook.headers === null || Array.isArray(hook.headers)) {
        problems.push(`${at}.headers must be an object of header names to string values, like {"Authorization": "Bearer ..."}`);
      } else {
        for (const [k, v] of Object.entries(hook.headers)) {
          if (!HEADER_NAME.test(k)) problems.push(`${at}.headers: '${k}' is not a valid header name`);
          else if (typeof v !== 'string' || /[\r\n\0]/.test(v)) problems.push(`${at}.headers.${k} must be a string on one line`);
          else headers[k] = v;
        }
      }
    }

    let events: AlertKind[] = [...ALERT_KINDS];
    if (hook.events !== undefined) {
      if (!Array.isArray(hook.events) || hook.events.length === 0) {
        problems.push(`${at}.events must be a non-empty list of alert kinds (leave it out for all): ${ALERT_KINDS.join(', ')}`);
      } else {
        const bad = hook.events.filter((e) => typeof e !== 'string' || !(ALERT_KINDS as readonly string[]).includes(e));
        if (bad.length > 0) problems.push(`${at}.events: unknown alert kind ${bad.map((b) => JSON.stringify(b)).join(', ')} (known: ${ALERT_KINDS.join(', ')})`);
        else events = [...new Set(hook.events as AlertKind[])];
      }
    }

    let chatId: string | number | null = null;
    if (format === 'telegram') {
      const c = hook.chatId;
      if ((typeof c === 'string' && c.trim() !== '') || (typeof c === 'number' && Number.isSafeInteger(c))) chatId = c;
      else problems.push(`${at}.chatId must be the Telegram chat id (a number like -1001234567890, or "@channelname") when format is telegram`);
    } else if (hook.chatId !== undefined) {
      problems.push(`${at}.chatId is only used with format telegram (format is ${format})`);
    }

    const maxPerMinute = checkNumber(`${at}.maxPerMinute`, hook.maxPerMinute ?? DEFAULT_WEBHOOK_MAX_PER_MINUTE, WEBHOOK_MAX_PER_MINUTE_RULE, problems, DEFAULT_WEBHOOK_MAX_PER_MINUTE);
    out.push({ name, url, format, headers, events, chatId, maxPerMinute });
  });
  return out;
}

// ---- the alert manager ----------------------------------------------------------------------------------

/** Where alerts go: a WebhookSender, or anything with the same surface. */
export interface AlertSink {
  accepts(kind: AlertKind): boolean;
  enqueue(alert: Alert): void;
  close(flushMs?: number): Promise<void>;
  /** Resolves when nothing waits to be sent. */
  idle?(): Promise<void>;
}

/** What alerts read from the farm ledger: its summary, and workers going offline or coming back. */
export interface SummarySource {
  summary(at?: number): FarmSummary;
  onPresence(listener: (change: PresenceChange) => void): () => void;
}

export interface AlertManagerOptions {
  log?: Logger;
  /** Clock and timers for the tick, the grace and the windows, and for the senders. */
  timers?: Timers;
  /** Where alerts go (default: one WebhookSender per configured webhook). */
  sinks?: AlertSink[];
  /** HTTP dispatcher for the default senders (default: an undici Agent per sender). */
  dispatcher?: Dispatcher;
}

/** How often the manager looks at graces, group windows and the stats checks. */
export const ALERT_TICK_MS = 1000;
/** The hashrate average needs at least this much history before a drop is judged. */
export const HASHRATE_MIN_HISTORY_MS = 5 * 60_000;
/** Devices remembered as reported offline (for "back online"); the oldest are forgotten beyond this. */
const MAX_REMEMBERED_OFFLINE = 200_000;

interface GroupItem {
  name: string;
  note: string;
}

interface Group {
  kind: AlertKind;
  flushAt: number;
  count: number;
  /** The first maxNamesListed items. */
  items: GroupItem[];
  /** Occurrences per note (reasons) or per line. */
  tally: Map<string, number>;
}

interface RejectSample {
  at: number;
  accepted: number;
  rejected: number;
  byReason: Partial<Record<RejectReason, number>>;
}

export class AlertManager {
  readonly instance: string;
  private readonly sinks: AlertSink[];
  private readonly log: Logger;
  private readonly timers: Timers;
  private readonly subscriptions: (() => void)[] = [];
  private readonly listeners = new Set<(alert: Alert) => void>();
  private timer: unknown = null;
  private running = false;

  /** Workers whose last session closed, waiting out the grace, in order of disconnection. */
  private readonly pendingOffline = new Map<string, { since: number; ip: string; reason: string }>();
  /** Workers reported offline, with the time they went. */
  private readonly reportedOffline = new Map<string, number>();
  private readonly downPools = new Set<string>();
  /**
   * Each upstream connection that is up, and the pool (as alerts name it) it is up on: a pool is down only
   * when no connection is up on it. One connection of several ending (a lane, or a worker that died and
   * took its connections with it, while the others' stay up) is not the pool being down.
   */
  private readonly upOn = new Map<number, string>();
  private readonly groups = new Map<AlertKind, Group>();

  private nextCheckAt = 0;
  private hashrateSamples: { at: number; hashrate: number }[] = [];
  private hashrateAlert: { reference: number; since: number } | null = null;
  private rejectSamples: RejectSample[] = [];
  private rejectsHigh = false;
  /** The books' writer (watchBooks), and the fault episode reported (with the counts when it began). */
  private books: LedgerHealth | null = null;
  private booksDown: { cause: string; since: number; committed: number; dropped: number } | null = null;
  /** Records dropped as of the last tick that found the books writable (drops just before a fault is seen count in it). */
  private booksDroppedBefore = 0;

  constructor(
    private readonly bus: EventBus,
    private readonly stats: SummarySource,
    readonly config: AlertsConfig,
    opts: AlertManagerOptions = {},
  ) {
    this.log = (opts.log ?? silentLogger).child({ component: 'alerts' });
    this.timers = opts.timers ?? realTimers;
    this.instance = config.instance ?? hostname();
    this.sinks =
      opts.sinks ??
      config.webhooks.map(
        (hook) =>
          new WebhookSender(hook, {
            instance: this.instance,
            log: this.log,
            timers: this.timers,
            ...(opts.dispatcher !== undefined && { dispatcher: opts.dispatcher }),
            delivery: {
              requestTimeoutMs: config.requestTimeoutSeconds * 1000,
              maxAttempts: config.maxAttempts,
              queueSize: config.queueSize,
              backoff: { baseMs: config.retryBaseSeconds * 1000, maxMs: config.retryMaxSeconds * 1000, factor: 2, jitter: 'full' },
            },
          }),
      );
  }

  /** Every alert produced, before it is handed to the webhooks (for the dashboard feed, tests). */
  onAlert(listener: (alert: Alert) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves when every webhook has sent (or given up on) everything handed to it. */
  async idle(): Promise<void> {
    await Promise.all(this.sinks.map((s) => s.idle?.()));
  }

  /** Listen to the bus and start the tick (pass `tick: false` to drive `tick()` yourself, e.g. in tests). */
  start(opts: { tick?: boolean } = {}): void {
    if (this.running) return;
    this.running = true;
    const on = this.subscriptions;
    on.push(this.stats.onPresence((c) => (c.online ? this.onOnline(c.worker) : this.onOffline(c.worker, c.ip, c.reason ?? ''))));
    on.push(this.bus.on('pool.down', (e) => this.onPoolDown(poolName(e.pool, e.target), e.connection, e.reason)));
    on.push(this.bus.on('pool.up', (e) => this.onPoolUp(poolName(e.pool, e.target), e.connection)));
    on.push(this.bus.on('pool.switch', (e) => this.onPoolSwitch(e.from === null ? null : poolName(e.from, e.target), poolName(e.to, e.target), e.connection, e.reason)));
    on.push(
      this.bus.on('block.candidate', (e) =>
        this.emit({
          kind: 'block.candidate',
          severity: 'info',
          title: `Block candidate found by ${e.worker}`,
          lines: [`hash ${e.hash}`, `share difficulty ${formatDifficulty(e.shareDifficulty)}, network difficulty ${formatDifficulty(e.networkDifficulty)}`, `pool ${e.pool}, job ${e.jobId}`],
          count: 1,
          at: e.at,
          details: { worker: e.worker, hash: e.hash, pool: e.pool, jobId: e.jobId, shareDifficulty: e.shareDifficulty, networkDifficulty: e.networkDifficulty },
        }),
      ),
    );
    on.push(this.bus.on('block.submitted', (e) => this.emit(blockSubmittedAlert(e))));
    on.push(
      this.bus.on('block.status', (e) => {
        const alert = blockStatusAlert(e);
        if (alert !== null) this.emit(alert);
      }),
    );
    // A worker exiting at shutdown (no restart planned) is the host stopping, not news.
    on.push(this.bus.on('worker.exited', (e) => e.restartInMs !== null && this.emit(workerDiedAlert(e))));
    this.nextCheckAt = this.timers.now() + this.config.checkIntervalSeconds * 1000;
    if (opts.tick !== false) this.schedule();
  }

  /** Stop listening; send what is grouped, give the webhooks up to `flushMs` to deliver, then close them. */
  async stop(flushMs = 2000): Promise<void> {
    for (const off of this.subscriptions.splice(0)) off();
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    if (this.running) this.flushGroups(Infinity);
    this.running = false;
    await Promise.all(this.sinks.map((s) => s.close(flushMs)));
  }

  /** Tell operators when the books cannot be written, and when they caught up (checked on each tick). */
  watchBooks(books: LedgerHealth): void {
    this.books = books;
    this.booksDroppedBefore = books.dropped;
  }

  /** One step: graces that ran out, group windows that closed, stats checks that are due, the books. */
  tick(now = this.timers.now()): void {
    this.checkBooks(now);
    const graceMs = this.config.offlineGraceSeconds * 1000;
    for (const [worker, p] of this.pendingOffline) {
      if (now - p.since < graceMs) break; // in order of disconnection: the rest are younger
      this.pendingOffline.delete(worker);
      this.reportedOffline.set(worker, p.since);
      if (this.reportedOffline.size > MAX_REMEMBERED_OFFLINE) this.reportedOffline.delete(this.reportedOffline.keys().next().value!);
      this.group('device.offline', { name: worker, note: p.ip }, p.reason, now);
    }
    if (now >= this.nextCheckAt && (this.config.hashrateDropPercent > 0 || this.config.rejectRatePercent > 0)) {
      this.nextCheckAt = now + this.config.checkIntervalSeconds * 1000;
      const summary = this.stats.summary(now);
      this.checkHashrate(summary, now);
      this.checkRejects(summary, now);
    }
    this.flushGroups(now);
  }

  // ---- events (cheap: maps and counters only) ------------------------------------------------------------

  /** The worker's first live session (the ledger counts sessions per worker). */
  private onOnline(worker: string): void {
    if (this.pendingOffline.delete(worker)) return; // back within the grace: nothing to tell
    const since = this.reportedOffline.get(worker);
    if (since !== undefined) {
      this.reportedOffline.delete(worker);
      const now = this.timers.now();
      this.group('device.online', { name: worker, note: `offline ${formatSpan(now - since)}` }, null, now);
    }
  }

  /** The worker's last live session ended. */
  private onOffline(worker: string, ip: string, reason: string): void {
    this.pendingOffline.delete(worker); // keep the map in order of disconnection
    this.pendingOffline.set(worker, { since: this.timers.now(), ip, reason });
  }

  private onPoolDown(pool: string, connection: number, reason: string): void {
    if (this.upOn.get(connection) === pool) this.upOn.delete(connection);
    for (const p of this.upOn.values()) if (p === pool) return; // another connection is up on it
    if (this.downPools.has(pool)) return; // already reported; told again when it is back up
    this.downPools.add(pool);
    this.group('pool.down', { name: pool, note: reason }, `${pool}: ${reason}`, this.timers.now());
  }

  private onPoolUp(pool: string, connection: number): void {
    this.upOn.set(connection, pool);
    if (!this.downPools.delete(pool)) return; // first connection, or a reconnect nobody was told about
    this.group('pool.up', { name: pool, note: '' }, null, this.timers.now());
  }

  private onPoolSwitch(from: string | null, to: string, connection: number, reason: string): void {
    // The connection left the pool it was up on (switching back retires it without a pool.down).
    if (this.upOn.get(connection) !== to) this.upOn.delete(connection);
    if (from === null) return; // the first pool chosen at start-up
    this.group('pool.switch', { name: `${from} → ${to}`, note: reason }, `${from} → ${to}: ${reason}`, this.timers.now());
  }

  // ---- grouping -------------------------------------------------------------------------------------------

  private group(kind: AlertKind, item: GroupItem, tallyKey: string | null, now: number): void {
    let g = this.groups.get(kind);
    if (!g) {
      g = { kind, flushAt: now + this.config.groupWindowSeconds * 1000, count: 0, items: [], tally: new Map() };
      this.groups.set(kind, g);
    }
    g.count++;
    if (g.items.length < this.config.maxNamesListed) g.items.push(item);
    if (tallyKey !== null) g.tally.set(tallyKey, (g.tally.get(tallyKey) ?? 0) + 1);
  }

  private flushGroups(now: number): void {
    for (const [kind, g] of this.groups) {
      if (g.flushAt > now) continue;
      this.groups.delete(kind);
      this.emit(renderGroup(g, this.config, now));
    }
  }

  // ---- checks on the farm summary -------------------------------------------------------------------------

  private checkHashrate(s: FarmSummary, now: number): void {
    const dropPercent = this.config.hashrateDropPercent;
    if (dropPercent <= 0) return;
    const windowMs = this.config.hashrateAverageMinutes * 60_000;
    const history = this.hashrateSamples.filter((x) => x.at > now - windowMs);
    this.hashrateSamples = [...history, { at: now, hashrate: s.hashrate }];
    const current = s.hashrate;
    const devices = `${s.devicesOnline} devices online, ${s.devicesOffline} offline`;

    if (this.hashrateAlert) {
      const { reference, since } = this.hashrateAlert;
      if (current >= reference * (1 - dropPercent / 200)) {
        this.hashrateAlert = null;
        this.emit({
          kind: 'hashrate.recovered',
          severity: 'info',
          title: `Farm hashrate recovered: ${formatHashrate(current)}`,
          lines: [`${Math.round((current / reference) * 100)}% of the ${formatHashrate(reference)} average before the drop, ${formatSpan(now - since)} later`, devices],
          count: 1,
          at: now,
          details: { hashrate: current, average: reference, devicesOnline: s.devicesOnline, devicesOffline: s.devicesOffline },
        });
      } else if (now - since >= windowMs) {
        // Low for a whole averaging window: that is the farm now. Start over from here.
        this.hashrateAlert = null;
        this.hashrateSamples = [{ at: now, hashrate: current }];
        this.log.info('hashrate alert: the lower hashrate is taken as the new normal', { hashrate: current, previousAverage: reference });
      }
      return;
    }

    if (history.length === 0 || now - history[0]!.at < Math.min(HASHRATE_MIN_HISTORY_MS, windowMs)) return;
    const average = history.reduce((sum, x) => sum + x.hashrate, 0) / history.length;
    if (!(average > 0) || current >= average * (1 - dropPercent / 100)) return;
    this.hashrateAlert = { reference: average, since: now };
    const down = Math.round((1 - current / average) * 100);
    this.emit({
      kind: 'hashrate.drop',
      severity: 'warning',
      title: `Farm hashrate down ${down}%: ${formatHashrate(current)}`,
      lines: [`average over the last ${this.config.hashrateAverageMinutes} min: ${formatHashrate(average)}`, devices],
      count: 1,
      at: now,
      details: { hashrate: current, average, dropPercent: down, devicesOnline: s.devicesOnline, devicesOffline: s.devicesOffline },
    });
  }

  private checkRejects(s: FarmSummary, now: number): void {
    const threshold = this.config.rejectRatePercent;
    if (threshold <= 0) return;
    const windowMs = this.config.rejectRateWindowMinutes * 60_000;
    this.rejectSamples.push({ at: now, accepted: s.accepted, rejected: s.rejected, byReason: { ...s.rejectedByReason } });
    // Keep the newest sample at or before the window's start as the base.
    while (this.rejectSamples.length > 1 && this.rejectSamples[1]!.at <= now - windowMs) this.rejectSamples.shift();
    const base = this.rejectSamples[0]!;
    const rejected = s.rejected - base.rejected;
    const total = s.accepted - base.accepted + rejected;
    if (total < this.config.rejectRateMinShares) return;
    const rate = (rejected / total) * 100;
    const minutes = Math.round((now - base.at) / 60_000) || 1;
    if (!this.rejectsHigh && rate >= threshold) {
      this.rejectsHigh = true;
      const byReason: Record<string, number> = {};
      for (const [reason, n] of Object.entries(s.rejectedByReason)) {
        const d = (n ?? 0) - (base.byReason[reason as RejectReason] ?? 0);
        if (d > 0) byReason[reason] = d;
      }
      const reasons = Object.entries(byReason)
        .sort((a, b) => b[1] - a[1])
        .map(([r, n]) => `${n} ${r.replace('_', ' ')}`)
        .join(', ');
      this.emit({
        kind: 'rejects.high',
        severity: 'warning',
        title: `Reject rate ${rate.toFixed(1)}% over the last ${minutes} min`,
        lines: [`${rejected} of ${total} shares rejected${reasons ? `: ${reasons}` : ''}`, `threshold ${threshold}%`],
        count: 1,
        at: now,
        details: { ratePercent: rate, rejected, total, byReason, windowMinutes: minutes, thresholdPercent: threshold },
      });
    } else if (this.rejectsHigh && rate < threshold / 2) {
      this.rejectsHigh = false;
      this.emit({
        kind: 'rejects.normal',
        severity: 'info',
        title: `Reject rate back to ${rate.toFixed(1)}%`,
        lines: [`${rejected} of ${total} shares rejected over the last ${minutes} min`],
        count: 1,
        at: now,
        details: { ratePercent: rate, rejected, total, windowMinutes: minutes },
      });
    }
  }

  // ---- the books ------------------------------------------------------------------------------------------

  private checkBooks(now: number): void {
    const b = this.books;
    if (b === null) return;
    if (b.fault === null && this.booksDown === null) {
      this.booksDroppedBefore = b.dropped;
    } else if (b.fault !== null && this.booksDown === null) {
      const since = b.faultSince ?? now;
      this.booksDown = { cause: b.fault, since, committed: b.committed, dropped: this.booksDroppedBefore };
      this.emit({
        kind: 'ledger.down',
        severity: SEVERITY['ledger.down'],
        title: `Books not being written: ${b.fault} since ${new Date(since).toISOString()}, ${b.pending} records waiting`,
        lines: [`ledger ${b.location}`, 'mining goes on; records wait in memory and are written when the books are back', ...(b.dropped > this.booksDroppedBefore ? [`${b.dropped - this.booksDroppedBefore} records dropped already`] : [])],
        count: 1,
        at: now,
        details: { ledger: b.location, cause: b.fault, since, pending: b.pending, dropped: b.dropped - this.booksDroppedBefore, droppedBy: { ...b.droppedBy } },
      });
    } else if (b.fault === null && this.booksDown !== null) {
      const down = this.booksDown;
      this.booksDown = null;
      this.booksDroppedBefore = b.dropped;
      const written = b.committed - down.committed;
      const dropped = b.dropped - down.dropped;
      this.emit({
        kind: 'ledger.up',
        severity: dropped > 0 ? 'warning' : SEVERITY['ledger.up'],
        title: `Books caught up: ${written} records written, ${dropped} dropped`,
        lines: [`ledger ${b.location}`, `${down.cause} for ${formatSpan(now - down.since)}`, ...(b.pending > 0 ? [`${b.pending} records still waiting`] : [])],
        count: 1,
        at: now,
        details: { ledger: b.location, cause: down.cause, since: down.since, written, dropped, pending: b.pending, droppedBy: { ...b.droppedBy } },
      });
    }
  }

  // ---- output ---------------------------------------------------------------------------------------------

  private emit(alert: Alert): void {
    const fields = { kind: alert.kind, count: alert.count };
    if (alert.severity === 'info') this.log.info(`alert: ${alert.title}`, fields);
    else this.log.warn(`alert: ${alert.title}`, fields);
    for (const l of this.listeners) l(alert);
    for (const s of this.sinks) if (s.accepts(alert.kind)) s.enqueue(alert);
  }

  private schedule(): void {
    this.timer = this.timers.setTimeout(() => {
      this.timer = null;
      if (!this.running) return;
      try {
        this.tick();
      } catch (err) {
        this.log.error('alert check failed', { error: (err as Error).message });
      }
      this.schedule();
    }, ALERT_TICK_MS);
  }
}

// ---- rendering groups (pure) ----------------------------------------------------------------------------

const SEVERITY: Record<AlertKind, AlertSeverity> = {
  'device.offline': 'warning',
  'device.online': 'info',
  'pool.down': 'critical',
  'pool.up': 'info',
  'pool.switch': 'warning',
  'hashrate.drop': 'warning',
  'hashrate.recovered': 'info',
  'rejects.high': 'warning',
  'rejects.normal': 'info',
  'block.candidate': 'info',
  'block.accepted': 'info',
  'block.rejected': 'critical',
  'block.orphaned': 'warning',
  'block.final': 'info',
  'ledger.down': 'critical',
  'ledger.up': 'info',
  'worker.exited': 'warning',
};

/**
 * "Proxy worker 2 (pid 4242) died (SIGKILL)": its devices reconnect to the other workers (round-robin hands
 * each new connection to the next worker), and when it is started again.
 */
export function workerDiedAlert(e: ProxyEventMap['worker.exited']): Alert {
  const cause = formatExitCause(e);
  const devices = e.devices === 1 ? 'its 1 device reconnects' : `its ${e.devices} devices reconnect`;
  const restart = e.restartInMs === null ? 'not restarted' : e.restartInMs <= 0 ? 'restarting now' : `restarting in ${formatSpan(e.restartInMs)}`;
  return {
    kind: 'worker.exited',
    severity: SEVERITY['worker.exited'],
    title: `Proxy worker ${e.worker} (pid ${e.pid}) died (${cause})`,
    lines: [`${devices} to the other workers`, restart],
    count: 1,
    at: e.at,
    details: { [PROXY_WORKER_FIELD]: e.worker, pid: e.pid, code: e.code, signal: e.signal, devices: e.devices, restartInMs: e.restartInMs },
  };
}

/**
 * A solo block sent to dashd: "Block 2100000 accepted by dashd own-dashd" (info), or rejected with dashd's
 * reason, or not answered (critical); with its hash, reward, payout address and the device that found it.
 */
export function blockSubmittedAlert(e: ProxyEventMap['block.submitted']): Alert {
  const took = e.result === 'accepted' || e.result === 'inconclusive';
  const kind: AlertKind = took ? 'block.accepted' : 'block.rejected';
  const why = e.reason !== null && e.reason !== e.result ? `: ${e.reason}` : '';
  const verb = { accepted: 'accepted by', inconclusive: 'inconclusive at', rejected: 'rejected by', unanswered: 'not answered by' }[e.result];
  const place = e.target === DEFAULT_TARGET ? '' : ` (target ${e.target})`;
  return {
    kind,
    severity: SEVERITY[kind],
    title: `Block ${e.height} ${verb} dashd ${e.pool}${why}`,
    lines: [`hash ${e.hash}`, `reward ${dashText(e.reward)} to ${e.payoutAddress}`, `found by ${e.worker}${place}`],
    count: 1,
    at: e.at,
    details: { pool: e.pool, hash: e.hash, height: e.height, result: e.result, reason: e.reason, reward: e.reward, coinbaseValue: e.coinbaseValue, payoutAddress: e.payoutAddress, worker: e.worker, route: e.route, target: e.target },
  };
}

/** A solo block's fate: orphaned (warning) or final (chainlocked or mature: info); null for `in-chain` (no news). */
export function blockStatusAlert(e: ProxyEventMap['block.status']): Alert | null {
  if (e.status === 'in-chain') return null;
  const kind: AlertKind = e.status === 'orphaned' ? 'block.orphaned' : 'block.final';
  const title = e.status === 'orphaned' ? `Block ${e.height} orphaned on dashd ${e.pool}: its reward is lost` : `Block ${e.height} ${e.status} on dashd ${e.pool}: its reward is final`;
  return {
    kind,
    severity: SEVERITY[kind],
    title,
    lines: [`hash ${e.hash}`, e.reason],
    count: 1,
    at: e.at,
    details: { pool: e.pool, hash: e.hash, height: e.height, status: e.status, confirmations: e.confirmations, chainlock: e.chainlock, reason: e.reason },
  };
}

function tallyText(tally: Map<string, number>): string[] {
  return [...tally.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => (n > 1 ? `${k} (${n}×)` : k));
}

function listed(g: Group, show: (i: GroupItem) => string): string[] {
  const lines = g.items.map(show);
  if (g.count > g.items.length) lines.push(`… and ${g.count - g.items.length} more`);
  return lines;
}

function renderGroup(g: Group, config: AlertsConfig, now: number): Alert {
  const one = g.count === 1 ? g.items[0]! : null;
  const names = g.items.map((i) => i.name);
  const base = { kind: g.kind, severity: SEVERITY[g.kind], count: g.count, at: now };
  switch (g.kind) {
    case 'device.offline': {
      const reasons = [...g.tally.entries()].sort((a, b) => b[1] - a[1]);
      return {
        ...base,
        title: one ? `Device ${one.name} offline` : `${g.count} devices offline`,
        lines: [
          ...listed(g, (i) => `${i.name} (${i.note})`),
          `not back within ${config.offlineGraceSeconds} s; last reason: ${reasons.map(([r, n]) => (g.count > 1 ? `${n} ${r}` : r)).join(', ')}`,
        ],
        details: { devices: g.count, workers: names, reasons: Object.fromEntries(reasons), graceSeconds: config.offlineGraceSeconds },
      };
    }
    case 'device.online':
      return {
        ...base,
        title: one ? `Device ${one.name} back online` : `${g.count} devices back online`,
        lines: listed(g, (i) => `${i.name} (${i.note})`),
        details: { devices: g.count, workers: names },
      };
    case 'pool.down':
      return {
        ...base,
        title: one ? `Pool ${one.name} is down` : `${g.count} pools down: ${names.join(', ')}`,
        lines: tallyText(g.tally),
        details: { pools: names, reasons: Object.fromEntries(g.tally) },
      };
    case 'pool.up':
      return { ...base, title: one ? `Pool ${one.name} is back up` : `${g.count} pools back up: ${names.join(', ')}`, lines: [], details: { pools: names } };
    case 'pool.switch':
      return {
        ...base,
        title: one ? `Pool switch: ${one.name}` : `${g.count} pool switches`,
        lines: tallyText(g.tally),
        details: { switches: g.count, changes: Object.fromEntries(g.tally) },
      };
    default:
      return { ...base, title: `${g.count} × ${g.kind}`, lines: listed(g, (i) => i.name), details: {} };
  }
}

// ---- formatting helpers -----------------------------------------------------------------------------------


/**
 * A pool as the alerts name it: its name, and the routing target it serves when that is not the default one
 * (two targets may use the same pool with different accounts: each is told apart).
 */
function poolName(pool: string, target: string): string {
  return target === DEFAULT_TARGET ? pool : `${pool} (target ${target})`;
}
