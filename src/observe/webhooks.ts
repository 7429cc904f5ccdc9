import { realTimers, type Timers } from '../util/timers.js';
import { Agent, RetryAgent, request, type Dispatcher } from 'undici';
import { Backoff, type BackoffOptions } from '../util/backoff.js';
import { silentLogger, type Logger } from '../core/log.js';

/**
 * Alert delivery to webhooks: the message formats (generic JSON, Slack incoming webhook, Telegram Bot API
 * sendMessage) and one WebhookSender per configured URL with a bounded queue, a per-webhook rate limit,
 * a timeout per request and retries with exponential backoff.
 *
 * The division of labour with undici: undici's RetryAgent replays a failed request (it keeps the body and
 * re-dispatches); the `retry` callback below is our policy (which failures are worth another attempt, how
 * long to wait, when to give up), so every attempt is counted and the wait runs on injectable timers.
 *
 * Nothing here runs on the share path: `enqueue` only pushes onto an array and schedules the sender.
 */

export const ALERT_KINDS = [
  'device.offline',
  'device.online',
  'pool.down',
  'pool.up',
  'pool.switch',
  'hashrate.drop',
  'hashrate.recovered',
  'rejects.high',
  'rejects.normal',
  'block.candidate',
  'block.accepted',
  'block.rejected',
  'block.orphaned',
  'block.final',
  'ledger.down',
  'ledger.up',
  'worker.exited',
] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

/**
 * Blocks: a candidate, and solo blocks (sent to dashd, then their fate). Each goes at once, alone, whatever
 * the rate limit says, and is never the one dropped from a full queue while others remain.
 */
export const BLOCK_ALERT_KINDS: ReadonlySet<AlertKind> = new Set<AlertKind>(['block.candidate', 'block.accepted', 'block.rejected', 'block.orphaned', 'block.final']);

export type AlertSeverity = 'info' | 'warning' | 'critical';

/** One alert, already grouped: `count` events folded into one title and a few detail lines. */
export interface Alert {
  kind: AlertKind;
  severity: AlertSeverity;
  /** One line, plain text: "37 devices offline". */
  title: string;
  /** Detail lines, plain text (escaped per format when rendered). */
  lines: string[];
  /** Events folded into this alert (1 when it stands for a single event). */
  count: number;
  /** Milliseconds since the epoch. */
  at: number;
  /** Machine-readable details for the JSON format. */
  details: Record<string, unknown>;
}

export const WEBHOOK_FORMATS = ['json', 'slack', 'telegram'] as const;
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number];

export interface WebhookConfig {
  /** Shown in logs instead of the URL (webhook URLs carry secrets). */
  name: string;
  url: string;
  format: WebhookFormat;
  /** Extra request headers (e.g. Authorization for a generic receiver). */
  headers: Record<string, string>;
  /** The alert kinds this webhook receives. */
  events: AlertKind[];
  /** Telegram only: the chat the bot writes to (numeric id or @channelname). */
  chatId: string | number | null;
  /** At most this many messages in any 60 s; alerts waiting meanwhile go out together as one digest. */
  maxPerMinute: number;
}

export interface DeliveryOptions {
  /** Time allowed to connect, and to get the answer's headers and each part of its body, per attempt. */
  requestTimeoutMs: number;
  /** Attempts per message before giving up (1 = no retry). */
  maxAttempts: number;
  /** Alerts waiting per webhook; beyond this the oldest (never a block alert while others remain) is dropped. */
  queueSize: number;
  /** Waits between attempts. */
  backoff: BackoffOptions;
  /** Alerts in one digest message at most. */
  maxBatch: number;
}

export const DEFAULT_DELIVERY: DeliveryOptions = {
  requestTimeoutMs: 10_000,
  maxAttempts: 5,
  queueSize: 500,
  backoff: { baseMs: 1000, maxMs: 30_000, factor: 2, jitter: 'full' },
  maxBatch: 20,
};

// ---- rendering (pure) ---------------------------------------------------------------------------------

export const SOURCE = 'dash-farm-proxy';

/**
 * Limits of the receiving services (public documentation):
 * - Slack Block Kit: a header block's plain_text is at most 150 characters, a section's text at most 3000,
 *   a message at most 50 blocks; in mrkdwn, `&`, `<` and `>` must be written `&amp;`, `&lt;`, `&gt;`.
 * - Telegram Bot API sendMessage: `text` is 1-4096 characters after entities are parsed; with
 *   parse_mode "HTML" every `<`, `>` and `&` that is not part of a tag or entity must be written as an entity.
 */
const SLACK_HEADER_MAX = 150;
const SLACK_SECTION_MAX = 3000;
const SLACK_MAX_BLOCKS = 50;
const TELEGRAM_TEXT_MAX = 4096;

/** Cut a plain string to `max` characters, marking the cut. */
export function clip(s: string, max: number): string {
  if (s.length <= max) return s;
  return max <= 1 ? s.slice(0, max) : s.slice(0, max - 1) + '…';
}

const escapeAngles = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Escape then clip so that the escaped text fits in `max` (escaping makes text longer). */
function escapeWithin(plain: string, max: number): string {
  let keep = max;
  for (;;) {
    const out = escapeAngles(clip(plain, keep));
    if (out.length <= max || keep <= 1) return out.slice(0, max);
    keep -= out.length - max;
  }
}

function severityOf(alerts: readonly Alert[]): AlertSeverity {
  const rank = { info: 0, warning: 1, critical: 2 } as const;
  return alerts.reduce<AlertSeverity>((s, a) => (rank[a.severity] > rank[s] ? a.severity : s), 'info');
}

/** The title of a message: the alert's own, or "N alerts" for a digest. */
export function messageTitle(alerts: readonly Alert[]): string {
  if (alerts.length === 1) return alerts[0]!.title;
  const events = alerts.reduce((n, a) => n + a.count, 0);
  return `${alerts.length} alerts (${events} events)`;
}

function alertJson(a: Alert): Record<string, unknown> {
  return { kind: a.kind, severity: a.severity, title: a.title, text: a.lines.join('\n'), count: a.count, at: new Date(a.at).toISOString(), details: a.details };
}

/** Generic JSON: one object per message; a digest carries its alerts in `alerts`. */
export function renderJson(alerts: readonly Alert[], instance: string): Record<string, unknown> {
  if (alerts.length === 1) return { source: SOURCE, instance, ...alertJson(alerts[0]!) };
  return {
    source: SOURCE,
    instance,
    kind: 'digest',
    severity: severityOf(alerts),
    title: messageTitle(alerts),
    text: alerts.map((a) => a.title).join('\n'),
    count: alerts.reduce((n, a) => n + a.count, 0),
    at: new Date(alerts[alerts.length - 1]!.at).toISOString(),
    alerts: alerts.map(alertJson),
  };
}

/** Slack incoming webhook: `text` is the notification fallback, `blocks` the message. */
export function renderSlack(alerts: readonly Alert[], instance: string): { text: string; blocks: unknown[] } {
  const title = messageTitle(alerts);
  const blocks: unknown[] = [{ type: 'header', text: { type: 'plain_text', text: clip(title, SLACK_HEADER_MAX) } }];
  const room = SLACK_MAX_BLOCKS - 3;
  if (alerts.length === 1) {
    const lines = alerts[0]!.lines.join('\n');
    if (lines !== '') blocks.push({ type: 'section', text: { type: 'mrkdwn', text: escapeWithin(lines, SLACK_SECTION_MAX) } });
  } else {
    for (const a of alerts.slice(0, room)) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: sectionOfDigest(a) } });
    if (alerts.length > room) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `and ${alerts.length - room} more alerts` } });
  }
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: escapeAngles(`${SOURCE} on ${instance} · ${new Date(alerts[alerts.length - 1]!.at).toISOString()}`) }] });
  return { text: clip(`${title} (${instance})`, SLACK_SECTION_MAX), blocks };
}

function sectionOfDigest(a: Alert): string {
  const head = `*${escapeAngles(clip(a.title, 300))}*`;
  if (a.lines.length === 0) return head;
  return `${head}\n${escapeWithin(a.lines.join('\n'), SLACK_SECTION_MAX - head.length - 1)}`;
}

/** Telegram Bot API sendMessage body (POST to https://api.telegram.org/bot<token>/sendMessage). */
export function renderTelegram(alerts: readonly Alert[], instance: string, chatId: string | number): { chat_id: string | number; text: string; parse_mode: 'HTML' } {
  const title = messageTitle(alerts);
  const body = alerts.length === 1 ? alerts[0]!.lines : alerts.flatMap((a) => [`• ${a.title}`, ...a.lines.map((l) => `   ${l}`)]);
  const footer = `${SOURCE} on ${instance}`;
  // The limit counts the text after parsing (tags removed, entities one character each): clip the plain text.
  const room = TELEGRAM_TEXT_MAX - footer.length - 2;
  const head = clip(title, Math.min(room, 256));
  const rest = clip(body.join('\n'), Math.max(0, room - head.length - 1));
  const text = `<b>${escapeAngles(head)}</b>${rest ? '\n' + escapeAngles(rest) : ''}\n<i>${escapeAngles(footer)}</i>`;
  return { chat_id: chatId, text, parse_mode: 'HTML' };
}

/** The request body for a webhook. */
export function renderMessage(alerts: readonly Alert[], hook: Pick<WebhookConfig, 'format' | 'chatId'>, instance: string): string {
  if (alerts.length === 0) throw new Error('renderMessage: no alert');
  switch (hook.format) {
    case 'json':
      return JSON.stringify(renderJson(alerts, instance));
    case 'slack':
      return JSON.stringify(renderSlack(alerts, instance));
    case 'telegram':
      if (hook.chatId === null) throw new Error('telegram webhook without chatId');
      return JSON.stringify(renderTelegram(alerts, instance, hook.chatId));
  }
}

// ---- delivery -----------------------------------------------------------------------------------------

/** HTTP answers worth another attempt: timeouts, rate limiting and server errors. Any other answer is final. */
export const RETRY_STATUS_CODES: readonly number[] = [408, 425, 429, ...Array.from({ length: 100 }, (_, i) => 500 + i)];

/** Network and timeout errors worth another attempt (Node and undici error codes). */
export const RETRY_ERROR_CODES: readonly string[] = [
  'ECONNRESET',
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETDOWN',
  'ENETUNREACH',
  'EHOSTDOWN',
  'EHOSTUNREACH',
  'EPIPE',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
];

/** A Retry-After header is obeyed up to this long. */
export const MAX_RETRY_AFTER_MS = 120_000;

interface FailedAttempt extends Error {
  code?: string;
  statusCode?: number;
  headers?: Record<string, string | string[] | undefined>;
}

function isRetryable(err: FailedAttempt): boolean {
  if (typeof err.statusCode === 'number') return RETRY_STATUS_CODES.includes(err.statusCode);
  return err.code !== undefined && RETRY_ERROR_CODES.includes(err.code);
}

/** Retry-After (seconds or an HTTP date) in milliseconds, or null. */
export function retryAfterMs(header: string | string[] | undefined, now: number): number | null {
  const v = Array.isArray(header) ? header[0] : header;
  if (v === undefined || v.trim() === '') return null;
  const seconds = Number(v);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(v) - now;
  if (!Number.isFinite(ms)) return null;
  return Math.min(Math.max(0, ms), MAX_RETRY_AFTER_MS);
}

function describe(err: FailedAttempt): string {
  if (typeof err.statusCode === 'number') return `HTTP ${err.statusCode}`;
  return err.code ? `${err.code}: ${err.message}` : err.message;
}

export interface WebhookSenderOptions {
  /** Name of this proxy in messages (several proxies may share a webhook). */
  instance: string;
  delivery?: Partial<DeliveryOptions>;
  log?: Logger;
  timers?: Timers;
  /** Where requests go (default: an undici Agent of its own). */
  dispatcher?: Dispatcher;
}

export interface WebhookSenderStats {
  /** Messages the receiver answered with 2xx. */
  delivered: number;
  /** Messages given up on (refused, or still failing after every attempt). */
  failed: number;
  /** Alerts dropped because the queue was full. */
  dropped: number;
  /** Attempts after the first. */
  retries: number;
}

export class WebhookSender {
  readonly stats: WebhookSenderStats = { delivered: 0, failed: 0, dropped: 0, retries: 0 };
  private readonly delivery: DeliveryOptions;
  private readonly log: Logger;
  private readonly timers: Timers;
  private readonly agent: Dispatcher;
  private readonly ownsAgent: boolean;
  private readonly retrying: RetryAgent;
  private readonly accepted: Set<AlertKind>;
  private readonly queue: Alert[] = [];
  /** Send times of the messages of the last 60 s (for the rate limit). */
  private readonly sentAt: number[] = [];
  private busy = false;
  private kickPending = false;
  private closed = false;
  private wake: unknown = null;
  private wakeAt = Infinity;
  private failures = 0;
  private backoff: Backoff;
  private retryWait: { timer: unknown; resume: (err?: Error | null) => void } | null = null;
  private readonly abort = new AbortController();
  private idleWaiters: (() => void)[] = [];
  private droppedSinceWarning = 0;
  private lastDropWarning = -Infinity;

  constructor(
    readonly hook: WebhookConfig,
    private readonly opts: WebhookSenderOptions,
  ) {
    this.delivery = { ...DEFAULT_DELIVERY, ...opts.delivery, backoff: { ...DEFAULT_DELIVERY.backoff, ...opts.delivery?.backoff } };
    this.log = (opts.log ?? silentLogger).child({ webhook: hook.name });
    this.timers = opts.timers ?? realTimers;
    this.accepted = new Set(hook.events);
    this.backoff = new Backoff(this.delivery.backoff);
    this.ownsAgent = opts.dispatcher === undefined;
    this.agent = opts.dispatcher ?? new Agent({ connect: { timeout: this.delivery.requestTimeoutMs }, keepAliveTimeout: 30_000 });
    this.retrying = new RetryAgent(this.agent, {
      throwOnError: true,
      statusCodes: [...RETRY_STATUS_CODES],
      retry: (err, _context, resume) => this.onFailedAttempt(err as FailedAttempt, resume),
    });
  }

  /** True when this webhook takes alerts of this kind. */
  accepts(kind: AlertKind): boolean {
    return this.accepted.has(kind);
  }

  /** Alerts waiting (not counting the message being sent). */
  get pending(): number {
    return this.queue.length;
  }

  /** Queue an alert (filtered by kind). Cheap: the sending happens later, off the caller's stack. */
  enqueue(alert: Alert): void {
    if (this.closed || !this.accepts(alert.kind)) return;
    if (this.queue.length >= this.delivery.queueSize) this.dropOldest();
    this.queue.push(alert);
    this.kick();
  }

  /** Resolves when nothing is waiting or being sent. */
  idle(): Promise<void> {
    if (!this.busy && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stop: give queued alerts up to `flushMs` to go out, then cancel whatever is left. */
  async close(flushMs = 0): Promise<void> {
    if (this.closed) return;
    if (flushMs > 0 && (this.busy || this.queue.length > 0)) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.idle(), new Promise<void>((resolve) => (timer = setTimeout(resolve, flushMs)))]);
      clearTimeout(timer);
    }
    this.closed = true;
    if (this.queue.length > 0) this.log.warn('alerts not sent: proxy stopping', { alerts: this.queue.length });
    this.queue.length = 0;
    if (this.wake !== null) this.timers.clearTimeout(this.wake);
    this.wake = null;
    if (this.retryWait) {
      this.timers.clearTimeout(this.retryWait.timer);
      const { resume } = this.retryWait;
      this.retryWait = null;
      resume(new Error('webhook sender closed'));
    }
    this.abort.abort();
    if (this.ownsAgent) await this.agent.destroy().catch(() => {});
    this.settleIdle();
  }

  // ---- internals ----------------------------------------------------------------------------------------

  private kick(): void {
    if (this.kickPending) return;
    this.kickPending = true;
    setImmediate(() => {
      this.kickPending = false;
      this.pump();
    });
  }

  private dropOldest(): void {
    let i = this.queue.findIndex((a) => !BLOCK_ALERT_KINDS.has(a.kind));
    if (i < 0) i = 0;
    this.queue.splice(i, 1);
    this.stats.dropped++;
    this.droppedSinceWarning++;
    const now = this.timers.now();
    if (now - this.lastDropWarning >= 60_000) {
      this.log.warn('alert queue full: dropped the oldest alerts', { dropped: this.droppedSinceWarning, droppedTotal: this.stats.dropped, queueSize: this.delivery.queueSize });
      this.lastDropWarning = now;
      this.droppedSinceWarning = 0;
    }
  }

  /** When the next message may go out under the rate limit. */
  private nextFreeAt(now: number): number {
    while (this.sentAt.length > 0 && this.sentAt[0]! <= now - 60_000) this.sentAt.shift();
    return this.sentAt.length < this.hook.maxPerMinute ? now : this.sentAt[0]! + 60_000;
  }

  private pump(): void {
    if (this.busy || this.closed) return;
    if (this.queue.length === 0) return this.settleIdle();
    const now = this.timers.now();
    let batch: Alert[];
    const block = this.queue.findIndex((a) => BLOCK_ALERT_KINDS.has(a.kind));
    if (block >= 0) {
      // A block alert goes at once, alone, whatever the rate limit says.
      batch = this.queue.splice(block, 1);
    } else {
      const freeAt = this.nextFreeAt(now);
      if (freeAt > now) return this.sleepUntil(freeAt, now);
      batch = [];
      for (let i = 0; i < this.queue.length && batch.length < this.delivery.maxBatch; ) {
        if (BLOCK_ALERT_KINDS.has(this.queue[i]!.kind)) i++;
        else batch.push(this.queue.splice(i, 1)[0]!);
      }
    }
    this.sentAt.push(now);
    this.busy = true;
    void this.send(batch).finally(() => {
      this.busy = false;
      this.pump();
    });
  }

  private sleepUntil(at: number, now: number): void {
    if (this.wake !== null && this.wakeAt <= at) return;
    if (this.wake !== null) this.timers.clearTimeout(this.wake);
    this.wakeAt = at;
    this.wake = this.timers.setTimeout(() => {
      this.wake = null;
      this.wakeAt = Infinity;
      this.pump();
    }, at - now);
  }

  private settleIdle(): void {
    if (this.busy || (this.queue.length > 0 && !this.closed)) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private async send(batch: Alert[]): Promise<void> {
    let body: string;
    try {
      body = renderMessage(batch, this.hook, this.opts.instance);
    } catch (err) {
      this.stats.failed++;
      this.log.error('alert not sent: cannot build the message', { error: (err as Error).message });
      return;
    }
    this.failures = 0;
    this.backoff = new Backoff(this.delivery.backoff);
    const title = messageTitle(batch);
    try {
      const res = await request(this.hook.url, {
        dispatcher: this.retrying,
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8', 'user-agent': SOURCE, ...this.hook.headers },
        body,
        headersTimeout: this.delivery.requestTimeoutMs,
        bodyTimeout: this.delivery.requestTimeoutMs,
        signal: this.abort.signal,
      });
      const text = await res.body.text().catch(() => '');
      if (res.statusCode >= 200 && res.statusCode < 300) {
        this.stats.delivered++;
        this.log.debug('alert delivered', { title, alerts: batch.length, attempts: this.failures + 1 });
      } else {
        this.stats.failed++;
        this.log.error('webhook refused the alert (not retried: check the webhook configuration)', { title, status: res.statusCode, response: clip(text, 300) });
      }
    } catch (err) {
      if (this.closed) return;
      this.stats.failed++;
      this.log.error('webhook failed: alert given up', { title, attempts: Math.max(1, this.failures), error: describe(err as FailedAttempt) });
    }
  }

  /** undici's RetryAgent asks after every failed attempt: call `resume()` to try again, `resume(err)` to give up. */
  private onFailedAttempt(err: FailedAttempt, resume: (err?: Error | null) => void): void {
    this.failures++;
    if (this.closed || !isRetryable(err) || this.failures >= this.delivery.maxAttempts) {
      resume(err);
      return;
    }
    const backoff = this.backoff.next();
    const after = err.statusCode !== undefined ? retryAfterMs(err.headers?.['retry-after'], this.timers.now()) : null;
    const delayMs = after ?? backoff;
    this.stats.retries++;
    this.log.warn('webhook attempt failed: retrying', { attempt: this.failures, of: this.delivery.maxAttempts, delayMs, error: describe(err) });
    this.retryWait = {
      resume,
      timer: this.timers.setTimeout(() => {
        this.retryWait = null;
        resume(null);
      }, delayMs),
    };
  }
}
