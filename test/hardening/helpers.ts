import type { NotifyParams } from '../../src/stratum/messages.js';
import type { Logger } from '../../src/core/log.js';
import { errorOf, LineClient, type Line } from '../helpers/line-client.js';
import { mine } from '../helpers/mine.js';

/**
 * Pieces shared by the hardening tests: a well-behaved device that mines real X11 shares on the jobs it is
 * sent, a log recorder. (The line client is test/helpers/line-client.ts, the job material
 * test/helpers/block-job.ts, bounded waits test/helpers/wait.ts.)
 */

/** NotifyParams from the params of a mining.notify line. */
export function notifyFromParams(p: unknown[]): NotifyParams {
  return {
    jobId: p[0] as string,
    prevhash: p[1] as string,
    coinb1: p[2] as string,
    coinb2: p[3] as string,
    merkleBranch: p[4] as string[],
    version: p[5] as string,
    nbits: p[6] as string,
    ntime: p[7] as string,
    cleanJobs: p[8] as boolean,
  };
}

/**
 * A well-behaved device: subscribes, authorizes, follows set_difficulty / set_extranonce / notify, and
 * mines real shares (X11, test/helpers/mine.ts) at the difficulty it was given, on the newest job.
 */
export class GoodDevice {
  extranonce1 = '';
  extranonce2Size = 0;
  private en2 = 0;
  readonly answers: Line[] = [];

  private constructor(
    readonly client: LineClient,
    readonly worker: string,
  ) {}

  static async connect(port: number, worker: string, from = '127.0.0.1', opts: { extranonceSubscribe?: boolean; password?: string } = {}): Promise<GoodDevice> {
    const client = await LineClient.connect(port, from);
    const d = new GoodDevice(client, worker);
    const sub = await client.request('mining.subscribe', ['good-miner/1.0']);
    if (errorOf(sub)) throw new Error(`subscribe refused: ${JSON.stringify(sub.error)}`);
    const r = sub.result as [unknown, string, number];
    d.extranonce1 = r[1];
    d.extranonce2Size = r[2];
    if (opts.extranonceSubscribe !== false) await client.request('mining.extranonce.subscribe', []);
    const auth = await client.request('mining.authorize', [worker, opts.password ?? 'x']);
    if (auth.result !== true) throw new Error(`authorize refused: ${JSON.stringify(auth.error)}`);
    return d;
  }

  get jobsReceived(): number {
    return this.client.notifications('mining.notify').length;
  }

  /** The newest job, the difficulty and extranonce in force for it. */
  current(): { notify: NotifyParams; difficulty: number; extranonce1: string; extranonce2Size: number } | null {
    let notify: NotifyParams | null = null;
    let difficulty = 1;
    let en1 = this.extranonce1;
    let size = this.extranonce2Size;
    for (const l of this.client.lines) {
      if (l.method === 'mining.set_difficulty') difficulty = l.params![0] as number;
      else if (l.method === 'mining.set_extranonce') {
        en1 = l.params![0] as string;
        size = l.params![1] as number;
        notify = null; // older jobs are void
      } else if (l.method === 'mining.notify') notify = notifyFromParams(l.params!);
    }
    return notify ? { notify, difficulty, extranonce1: en1, extranonce2Size: size } : null;
  }

  /** Mine one share on the newest job and submit it; resolves with the answer. */
  async submitOne(timeoutMs = 15_000): Promise<Line> {
    const cur = this.current();
    if (!cur) throw new Error(`${this.worker}: no job yet`);
    const en2 = (this.en2++).toString(16).padStart(cur.extranonce2Size * 2, '0');
    const share = mine(cur.notify, cur.extranonce1, en2, cur.difficulty, { startNonce: Math.floor(Math.random() * 2 ** 31) });
    const answer = await this.client.request('mining.submit', [this.worker, cur.notify.jobId, en2, share.ntime, share.nonce], undefined, timeoutMs);
    this.answers.push(answer);
    return answer;
  }
}

/** A logger that keeps every record (level, message, fields) for assertions. */
export function recordingLogger(): Logger & { records: { level: string; msg: string; fields: Record<string, unknown> }[]; text(): string } {
  const records: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
  const make = (base: Record<string, unknown>): Logger => ({
    debug: (msg, f) => records.push({ level: 'debug', msg, fields: { ...base, ...f } }),
    info: (msg, f) => records.push({ level: 'info', msg, fields: { ...base, ...f } }),
    warn: (msg, f) => records.push({ level: 'warn', msg, fields: { ...base, ...f } }),
    error: (msg, f) => records.push({ level: 'error', msg, fields: { ...base, ...f } }),
    child: (f) => make({ ...base, ...f }),
  });
  return Object.assign(make({}), { records, text: () => records.map((r) => `${r.level} ${r.msg} ${JSON.stringify(r.fields)}`).join('\n') });
}
