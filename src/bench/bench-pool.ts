import net from 'node:net';
import { SimJobSource, type SimJob } from '../sim/job-source.js';
import { LineFramer } from '../stratum/framing.js';
import { errorLine, notificationLine, parseLine, resultLine } from '../stratum/jsonrpc.js';
import { StratumError, StratumErrorCode } from '../stratum/errors.js';
import { Method } from '../stratum/messages.js';
import type { ShareTimeline } from './share-timeline.js';

/**
 * The pool of the benchmarks: a scripted Stratum V1 pool that sends realistic Dash jobs (type-5 coinbase,
 * merkle branch) and answers every mining.submit `true` at once, without judging it (judging is the proxy's
 * work being measured; the pool must cost as little as possible on the load generator's core).
 *
 * Shares: one job; with a timeline it records when each share arrived (the share's nonce is its sequence
 * number there). Fan-out: `prepareBlock()` builds the next block's clean job ahead of time (a merkle
 * branch of ten costs milliseconds), `writeBlock()` makes it current and writes it to every upstream
 * session at once, saying when.
 */
export interface BenchPoolOptions {
  /** Share difficulty sent to the proxy (shares: tiny, so every share the proxy accepts is forwarded). */
  difficulty: number;
  /** Transactions besides the coinbase: the merkle branch is ceil(log2(txCount + 1)) long. */
  txCount: number;
  timeline?: ShareTimeline;
}

/** A job written to the proxy: its prevhash (unique per block, passed through by any proxy) and when. */
export interface BroadcastJob {
  prevhash: string;
  jobId: string;
  /** performance.now() right before the first write. */
  writtenAt: number;
  /** Upstream sessions it was written to. */
  sessions: number;
}

/** Real Dash nBits (mainnet, 2025): no benchmark share is a block. */
const DASH_NBITS = 0x1927e5e4;

export class BenchPool {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly source: SimJobSource;
  private job: SimJob;
  private en1Counter = 0x10000000;
  /** Submits received, and methods seen (for the report). */
  submits = 0;
  readonly methods: Record<string, number> = {};
  /** Upstream sessions that authorized (and so hold the current job). */
  private readonly authorized = new Set<net.Socket>();

  constructor(private readonly opts: BenchPoolOptions) {
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

  /** Upstream sessions (the proxy's connections) that authorized and are still open. */
  get authorizedSessions(): number {
    return this.authorized.size;
  }

  private prepared: SimJob | null = null;

  /** Build the next block's clean job now, so that `writeBlock()` only writes. */
  prepareBlock(): void {
    this.prepared ??= this.source.nextBlock(this.opts.difficulty);
  }

  /** The prevhash of the block prepared (and not yet written), or null. */
  preparedPrevhash(): string | null {
    return this.prepared?.notify.prevhash ?? null;
  }

  /** The next block: its clean job (prepared, or built now) replaces the current one and goes to every authorized session. */
  writeBlock(): BroadcastJob {
    this.prepareBlock();
    this.job = this.prepared!;
    this.prepared = null;
    const line = this.job.notifyLine;
    const writtenAt = performance.now();
    for (const socket of this.authorized) socket.write(line);
    return { prevhash: this.job.notify.prevhash, jobId: this.job.notify.jobId, writtenAt, sessions: this.authorized.size };
  }

  /** Listen on 127.0.0.1 (port 0: one the system picks); resolves with the port. */
  async listen(port = 0): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => resolve());
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
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.authorized.delete(socket);
    });
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
        if (Number.isFinite(nonce)) this.opts.timeline?.received(nonce, at);
        socket.write(resultLine(id, true));
        return;
      }
      case Method.Subscribe:
        socket.write(resultLine(id, [[['mining.set_difficulty', 'b1'], ['mining.notify', 'b1']], en1, 8]));
        return;
      case Method.Authorize:
        socket.write(resultLine(id, true));
        this.authorized.add(socket);
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
