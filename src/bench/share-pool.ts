import net from 'node:net';
import { SimJobSource, type SimJob } from '../sim/job-source.js';
import { LineFramer } from '../stratum/framing.js';
import { errorLine, notificationLine, parseLine, resultLine } from '../stratum/jsonrpc.js';
import { StratumError, StratumErrorCode } from '../stratum/errors.js';
import { Method } from '../stratum/messages.js';
import type { ShareTimeline } from './share-timeline.js';

/**
 * The pool of the share benchmark: a scripted Stratum V1 pool that sends one realistic Dash job (type-5
 * coinbase, merkle branch) and answers every mining.submit `true` at once, without judging it (judging is
 * the proxy's work being measured; the pool must cost as little as possible on the load generator's core).
 * It records when each share arrived: the share's nonce is its sequence number in the timeline.
 */
export interface SharePoolOptions {
  /** Share difficulty sent to the proxy (tiny: every share the proxy accepts is forwarded). */
  difficulty: number;
  /** Transactions besides the coinbase: the merkle branch is ceil(log2(txCount + 1)) long. */
  txCount: number;
  timeline: ShareTimeline;
}

/** Real Dash nBits (mainnet, 2025): no benchmark share is a block. */
const DASH_NBITS = 0x1927e5e4;

export class SharePool {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly source: SimJobSource;
  private job: SimJob;
  private en1Counter = 0x10000000;
  /** Submits received, and methods seen (for the report). */
  submits = 0;
  readonly methods: Record<string, number> = {};

  constructor(private readonly opts: SharePoolOptions) {
    this.source = new SimJobSource({ extranonce1Size: 4, extranonce2Size: 8, nbits: DASH_NBITS, txCount: opts.txCount });
    this.job = this.source.nextJob(opts.difficulty, true);
    this.server = net.createServer((socket) => this.onConnection(socket));
  }

  get merkleBranchLength(): number {
    return this.job.notify.merkleBranch.length;
  }

  get coinbaseBytes(): number {
    return (this.job.notify.coinb1.length + this.job.notify.coinb2.length) / 2 + 4 + 8;
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    return (this.server.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onConnection(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.setNoDelay(true);
    const framer = new LineFramer(64 * 1024);
    const en1 = (this.en1Counter++ >>> 0).toString(16).padStart(8, '0');
    socket.on('data', (chunk: Buffer) => {
      const at = performance.now();
      framer.push(chunk, (line) => this.onLine(socket, en1, line, at));
    });
    socket.on('error', () => {});
    socket.on('close', () => this.sockets.delete(socket));
  }

  private onLine(socket: net.Socket, en1: string, line: string, at: number): void {
    const parsed = parseLine(line);
    if (!parsed.ok || parsed.message.kind !== 'request') return;
    const { id, method, params } = parsed.message;
    this.methods[method] = (this.methods[method] ?? 0) + 1;
    switch (method) {
      case Method.Submit: {
        this.submits++;
        const nonce = typeof params[4] === 'string' ? parseInt(params[4], 16) : NaN;
        if (Number.isFinite(nonce)) this.opts.timeline.received(nonce, at);
        socket.write(resultLine(id, true));
        return;
      }
      case Method.Subscribe:
        socket.write(resultLine(id, [[['mining.set_difficulty', 'b1'], ['mining.notify', 'b1']], en1, 8]));
        return;
      case Method.Authorize:
        socket.write(resultLine(id, true));
        socket.write(notificationLine(Method.SetDifficulty, [this.opts.difficulty]));
        socket.write(this.job.notifyLine);
        return;
      case Method.ExtranonceSubscribe:
      case Method.SuggestDifficulty:
        if (id !== null) socket.write(resultLine(id, true));
        return;
      case Method.Configure:
        socket.write(resultLine(id, { 'version-rolling': false }));
        return;
      default:
        if (id !== null) socket.write(errorLine(id, new StratumError(StratumErrorCode.Other, `unsupported method ${method.slice(0, 64)}`)));
    }
  }
}
