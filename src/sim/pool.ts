import { EventEmitter } from 'node:events';
import net from 'node:net';
import { displayHash, isHex, u32Hex } from '../chain/bytes.js';
import type { PowHasher } from '../chain/hasher.js';
import { loadX11Wasm } from '../chain/x11-wasm.js';
import { StratumError, StratumErrorCode } from '../stratum/errors.js';
import { DEFAULT_MAX_LINE_BYTES } from '../stratum/framing.js';
import { errorLine, notificationLine, parseLine, resultLine, type RpcId } from '../stratum/jsonrpc.js';
import { MAX_WORKER_NAME, Method, parseAuthorize, parseConfigure, parseSubmit, requestedVersionMask, type SubmitParams } from '../stratum/messages.js';
import { copyCounters, countRejected, newCounters, type ShareCounters } from './counters.js';
import { SimJobSource, type SimJob } from './job-source.js';
import { PoolSession } from './pool-session.js';
import { ShareJudge } from './share-judge.js';

/**
 * A Stratum V1 Dash pool on loopback that behaves like a real one (node-stratum-pool, as recorded in the
 * shared transcript): set_difficulty and notify right after the subscribe answer, silent on methods real
 * pools ignore when told to be, answers in request order, and every share judged by the pool's own ShareJudge
 * (share-judge.ts, built on the chain primitives and nothing of the proxy's) against the connection's
 * extranonce1 and the difficulty in force for the job.
 *
 * Jobs are realistic Dash jobs (type-5 coinbase with CbTx payload, merkle branch, word-swapped prevhash),
 * serialized once and written as the same bytes to every connection. A share that meets the network target
 * is a found block: the pool moves to the next height at once and sends a clean job.
 *
 * The control methods (setDifficulty, newBlock, setExtranonce, sendReconnect, dropAll, refuse/resume,
 * stall) and the fault options exist for tests of whatever connects to it.
 */

export type AnswerMode = 'answer' | 'silent';

export interface SimPoolFaults {
  /** Go silent this long after listen(): no answers, no jobs (a hung pool). Undefined: never. */
  stallAfterMs?: number;
  /** Answer every mining.submit this late (ms); the answers behind it wait too (request order). */
  submitDelayMs?: number;
  /** Send a non-JSON line to every connection this often (ms). */
  garbageEveryMs?: number;
}

export interface SimPoolOptions {
  /** Listen address (default 127.0.0.1). */
  host?: string;
  /** Port (default 0: chosen by the OS; read `port` after listen()). */
  port?: number;
  /** Share difficulty (default 1e-6). Applies to the next job, like a real pool. */
  difficulty?: number;
  /** Bytes of extranonce1 per connection (default 4, 1..16). Unique per connection while the counter does not wrap. */
  extranonce1Size?: number;
  /** Bytes of extranonce2 announced (default 8, 1..16): room for a proxy to split. */
  extranonce2Size?: number;
  /** Network target as compact nBits, number or 8 hex digits (default 1e0fffff: difficulty ~0.000244). */
  nbits?: number | string;
  /** Block version (default 0x20000000). */
  version?: number;
  /** Height of the first block (default 2,300,000). */
  startHeight?: number;
  /** Transactions besides the coinbase in every job (default 6). */
  txCount?: number;
  /** New job (clean_jobs false) this often (ms, default 30000; 0: never). */
  jobIntervalMs?: number;
  /** New block (clean_jobs true, height + 1) this often (ms, default 150000; 0: never). Found blocks come on top. */
  blockIntervalMs?: number;
  /** Send set_difficulty + notify after the subscribe answer (default, like the real pool) or after a successful authorize. */
  notifyAfter?: 'subscribe' | 'authorize';
  /** Answer mining.extranonce.subscribe with true (default) or never. The session counts as subscribed either way. */
  extranonceSubscribe?: AnswerMode;
  /** Answer mining.configure (default) or never (then no version rolling). */
  configure?: AnswerMode;
  /** The version-rolling mask the pool allows (default 0x1fffe000). */
  versionRollingMask?: number;
  /** mining.suggest_difficulty: never answered (default, like the transcript) or answered true. Never applied. */
  suggestDifficulty?: AnswerMode;
  /** When set, mining.authorize needs this password (else error 24). */
  password?: string;
  /** Custom authorization; false refuses with error 24. */
  authorizeUser?: (username: string, password: string) => boolean;
  /**
   * Which worker names a connection may submit for. 'connection' (default, like node-stratum-pool): any name
   * once the connection authorized one (shares are counted under the name submitted). 'authorized': only names
   * authorized on this connection (others get error 24).
   */
  submitWorkers?: 'connection' | 'authorized';
  faults?: SimPoolFaults;
  maxLineBytes?: number;
  poolTag?: string;
  /** Shares remembered for duplicate detection (default 250,000). */
  duplicateCacheSize?: number;
  /** X11 backend (default: loadX11Wasm()). */
  hasher?: PowHasher;
}

export interface FoundBlock {
  height: number;
  /** Display hex of the block hash. */
  hash: string;
  jobId: string;
  worker: string;
  connectionId: number;
  shareDifficulty: number;
  networkDifficulty: number;
  at: number;
}

export interface SimPoolShareEvent {
  connectionId: number;
  /** The worker as authorized, or null when the submit named none we know. */
  worker: string | null;
  jobId: string | null;
  /** The submit's extranonce2 and nonce as sent (hex), so a test can tell shares apart; null when the submit did not parse. */
  extranonce2: string | null;
  nonce: string | null;
  accepted: boolean;
  /** The error code when rejected. */
  code: number | null;
  message: string | null;
  /** Difficulty the hash achieved (absent when the share was refused before hashing). */
  shareDifficulty: number | null;
  /** Difficulty in force for the job (what an accepted share is credited). */
  difficulty: number | null;
  block: boolean;
  at: number;
}

export interface SimPoolConnectionEvent {
  id: number;
  remote: string;
  state: 'open' | 'closed';
  reason?: string;
}

export interface SimPoolJobEvent {
  jobId: string;
  height: number;
  clean: boolean;
  difficulty: number;
  /** Connections the job was written to. */
  connections: number;
}

export interface SimPoolEvents {
  share: [SimPoolShareEvent];
  connection: [SimPoolConnectionEvent];
  block: [FoundBlock];
  job: [SimPoolJobEvent];
}

export interface SimPoolConnectionStats extends ShareCounters {
  id: number;
  remote: string;
  extranonce1: string;
  workers: string[];
  subscribed: boolean;
  extranonceSubscribed: boolean;
  versionMask: number;
  connectedAt: number;
}

export interface SimPoolStats {
  listening: boolean;
  host: string;
  port: number;
  height: number;
  /** The difficulty in force for the current job. */
  difficulty: number;
  nbits: string;
  currentJobId: string | null;
  jobsIssued: number;
  /** Open connections now. */
  connections: number;
  /** Connections accepted since start. */
  connectionsTotal: number;
  subscribed: number;
  authorized: number;
  stalled: boolean;
  totals: ShareCounters;
  workers: Record<string, ShareCounters>;
  blocks: FoundBlock[];
  /** Requests received per method (unknown methods included). */
  methods: Record<string, number>;
  /** Lines that were not valid JSON-RPC. */
  malformedLines: number;
}

const other = (message: string) => new StratumError(StratumErrorCode.Other, message);
const GARBAGE_LINE = 'this is not json {{{\n';
const MAX_TRACKED_WORKERS = 200_000;
const OTHER_WORKERS = '(other workers)';

function parseNbits(v: number | string | undefined): number {
  if (v === undefined) return 0x1e0fffff;
  if (typeof v === 'number') return v >>> 0;
  if (!isHex(v, 4)) throw new RangeError(`nbits must be 8 hex digits, got '${v}'`);
  return parseInt(v, 16) >>> 0;
}

function checkSize(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1 || v > 16) throw new RangeError(`${name} must be an integer from 1 to 16, got ${v}`);
  return v;
}

function checkInterval(name: string, v: number): number {
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`${name} must be a number of milliseconds >= 0, got ${v}`);
  return v;
}

export class SimPool extends EventEmitter<SimPoolEvents> {
  readonly host: string;
  readonly extranonce1Size: number;
  readonly extranonce2Size: number;
  private readonly opts: SimPoolOptions;
  private readonly jobs: SimJobSource;
  private readonly sessions = new Map<number, PoolSession>();
  private readonly workerCounters = new Map<string, ShareCounters>();
  private readonly totals = newCounters();
  private readonly methods: Record<string, number> = {};
  private readonly blocks: FoundBlock[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private servers: net.Server[] = [];
  private server: net.Server | undefined;
  private judge: ShareJudge | undefined;
  private difficultyValue: number;
  private portValue: number;
  private nextSessionId = 1;
  private extranonceCounter: number;
  private readonly extranoncePrefix: string;
  private connectionsTotal = 0;
  private malformedLines = 0;
  private jobsIssued = 0;
  private stalled = false;
  private refusing: 'unlisten' | 'reset' | null = null;
  private closed = false;

  constructor(options: SimPoolOptions = {}) {
    super();
    this.opts = options;
    this.host = options.host ?? '127.0.0.1';
    this.portValue = options.port ?? 0;
    this.extranonce1Size = checkSize('extranonce1Size', options.extranonce1Size ?? 4);
    this.extranonce2Size = checkSize('extranonce2Size', options.extranonce2Size ?? 8);
    this.difficultyValue = options.difficulty ?? 1e-6;
    if (!(this.difficultyValue > 0) || !Number.isFinite(this.difficultyValue)) throw new RangeError(`difficulty must be a positive number, got ${this.difficultyValue}`);
    checkInterval('jobIntervalMs', options.jobIntervalMs ?? 0);
    checkInterval('blockIntervalMs', options.blockIntervalMs ?? 0);
    this.jobs = new SimJobSource({
      extranonce1Size: this.extranonce1Size,
      extranonce2Size: this.extranonce2Size,
      nbits: parseNbits(options.nbits),
      ...(options.version !== undefined && { version: options.version }),
      ...(options.startHeight !== undefined && { startHeight: options.startHeight }),
      ...(options.txCount !== undefined && { txCount: options.txCount }),
      ...(options.poolTag !== undefined && { poolTag: options.poolTag }),
    });
    // extranonce1 = random prefix (beyond 4 bytes) + a counter over the last <= 4 bytes, starting at random.
    const counterBytes = Math.min(4, this.extranonce1Size);
    this.extranoncePrefix = Buffer.from(Array.from({ length: this.extranonce1Size - counterBytes }, () => Math.floor(Math.random() * 256))).toString('hex');
    this.extranonceCounter = Math.floor(Math.random() * 2 ** (8 * counterBytes));
    this.setMaxListeners(50);
  }

  // ---- lifecycle ------------------------------------------------------------------------------------------

  /** Start listening; resolves with the address. Issues the first job and starts the job/block timers. */
  async listen(): Promise<{ host: string; port: number; url: string }> {
    if (this.closed) throw new Error('SimPool: closed');
    if (this.server) return this.address();
    const hasher = this.opts.hasher ?? (await loadX11Wasm());
    this.judge = new ShareJudge({ hasher, extranonce2Size: this.extranonce2Size, ...(this.opts.duplicateCacheSize !== undefined && { rememberShares: this.opts.duplicateCacheSize }) });
    if (!this.jobs.current) this.issue(this.jobs.nextJob(this.difficultyValue, true));
    await this.startServer();
    const jobMs = this.opts.jobIntervalMs ?? 30_000;
    const blockMs = this.opts.blockIntervalMs ?? 150_000;
    if (jobMs > 0) this.timers.push(setInterval(() => this.newJob(), jobMs));
    if (blockMs > 0) this.timers.push(setInterval(() => this.newBlock(), blockMs));
    const f = this.opts.faults ?? {};
    if (f.stallAfterMs !== undefined) this.timers.push(setTimeout(() => this.stall(), f.stallAfterMs));
    if (f.garbageEveryMs !== undefined && f.garbageEveryMs > 0) this.timers.push(setInterval(() => this.sendGarbage(), f.garbageEveryMs));
    return this.address();
  }

  /** Stop everything: timers, listeners, every connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.length = 0;
    for (const s of this.sessions.values()) s.close();
    const servers = this.servers;
    this.servers = [];
    this.server = undefined;
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve()))));
  }

  get port(): number {
    return this.portValue;
  }

  /** `stratum+tcp://host:port` (valid after listen()). */
  get url(): string {
    return `stratum+tcp://${this.host}:${this.portValue}`;
  }

  address(): { host: string; port: number; url: string } {
    return { host: this.host, port: this.portValue, url: this.url };
  }

  // ---- control API ----------------------------------------------------------------------------------------

  get difficulty(): number {
    return this.difficultyValue;
  }

  get height(): number {
    return this.jobs.height;
  }

  /** The current job (undefined before listen()). */
  get currentJob(): SimJob | undefined {
    return this.jobs.current;
  }

  /** Open connections. */
  get connectionCount(): number {
    return this.sessions.size;
  }

  /** New share difficulty for every connection: set_difficulty goes out now with a new job, where it takes effect. */
  setDifficulty(difficulty: number): SimJob {
    if (!(difficulty > 0) || !Number.isFinite(difficulty)) throw new RangeError(`difficulty must be a positive number, got ${difficulty}`);
    this.difficultyValue = difficulty;
    return this.newJob();
  }

  /** A new job on the current block (clean_jobs false unless `clean`). */
  newJob(clean = false): SimJob {
    return this.issue(this.jobs.nextJob(this.difficultyValue, clean));
  }

  /** The next block: height + 1, a new prevhash, a clean job. */
  newBlock(): SimJob {
    return this.issue(this.jobs.nextBlock(this.difficultyValue));
  }

  /**
   * Change the extranonce1 of one connection (by id) or all: sessions that sent mining.extranonce.subscribe
   * get mining.set_extranonce (the new value applies from the next job, which is sent right away); the others
   * are closed, as a pool that cannot tell them does. Shares on jobs sent before the change are still judged
   * with the old extranonce1. Returns what changed.
   */
  setExtranonce(target: number | 'all' = 'all', extranonce1?: string): { changed: { id: number; extranonce1: string }[]; closed: number[] } {
    if (extranonce1 !== undefined && !isHex(extranonce1, this.extranonce1Size)) {
      throw new RangeError(`extranonce1 must be ${this.extranonce1Size * 2} hex digits, got '${extranonce1}'`);
    }
    const changed: { id: number; extranonce1: string }[] = [];
    const closed: number[] = [];
    const nextSeq = this.jobs.nextSeq;
    for (const s of this.targetSessions(target)) {
      if (!s.subscribed) continue;
      if (!s.extranonceSubscribed) {
        closed.push(s.id);
        s.close();
        continue;
      }
      s.previousExtranonce1 = s.extranonce1;
      s.extranonce1 = (extranonce1 ?? this.allocateExtranonce1()).toLowerCase();
      s.extranonceSinceSeq = nextSeq;
      if (!this.stalled) s.write(notificationLine(Method.SetExtranonce, [s.extranonce1, this.extranonce2Size]));
      changed.push({ id: s.id, extranonce1: s.extranonce1 });
    }
    this.newJob();
    return { changed, closed };
  }

  /** Send client.reconnect (to one connection or all). With no host/port/wait the params are empty: "reconnect to me". */
  sendReconnect(opts: { host?: string; port?: number; waitSeconds?: number; connectionId?: number } = {}): number {
    const params = opts.host === undefined && opts.port === undefined && opts.waitSeconds === undefined ? [] : [opts.host ?? this.host, opts.port ?? this.portValue, opts.waitSeconds ?? 0];
    const line = notificationLine(Method.Reconnect, params);
    let n = 0;
    for (const s of this.targetSessions(opts.connectionId ?? 'all')) {
      s.write(line);
      n++;
    }
    return n;
  }

  /** client.show_message to one connection or all. */
  sendMessage(text: string, connectionId?: number): number {
    const line = notificationLine(Method.ShowMessage, [text]);
    let n = 0;
    for (const s of this.targetSessions(connectionId ?? 'all')) {
      s.write(line);
      n++;
    }
    return n;
  }

  /** A non-JSON line to one connection or all. */
  sendGarbage(connectionId?: number): number {
    if (this.stalled) return 0;
    let n = 0;
    for (const s of this.targetSessions(connectionId ?? 'all')) {
      s.write(GARBAGE_LINE);
      n++;
    }
    return n;
  }

  /** Close one connection abruptly. */
  drop(connectionId: number): boolean {
    const s = this.sessions.get(connectionId);
    if (!s) return false;
    s.close();
    return true;
  }

  /** Close every connection abruptly. Returns how many. */
  dropAll(): number {
    let n = 0;
    for (const s of [...this.sessions.values()]) {
      if (!s.socket.destroyed) n++;
      s.close();
    }
    return n;
  }

  /**
   * Refuse new connections: 'unlisten' stops listening (connects get ECONNREFUSED), 'reset' accepts and
   * closes at once. Open connections stay (call dropAll() too for a pool that went away).
   */
  async refuse(mode: 'unlisten' | 'reset' = 'unlisten'): Promise<void> {
    this.refusing = mode;
    if (mode === 'unlisten' && this.server) {
      const s = this.server;
      this.server = undefined;
      this.servers = this.servers.filter((x) => x !== s);
      await new Promise<void>((resolve) => {
        s.close(() => resolve());
        // close() waits for open connections; they are not the listener's business any more.
        setImmediate(resolve);
      });
    }
  }

  /** Accept connections again (on the same port). */
  async resume(): Promise<void> {
    const wasUnlistened = this.refusing === 'unlisten';
    this.refusing = null;
    if (wasUnlistened && !this.server && !this.closed) await this.startServer();
  }

  /** Go silent: ignore every request, send no jobs (a hung pool). */
  stall(): void {
    this.stalled = true;
    for (const s of this.sessions.values()) s.clearQueue();
  }

  unstall(): void {
    this.stalled = false;
  }

  // ---- stats ----------------------------------------------------------------------------------------------

  stats(): SimPoolStats {
    let subscribed = 0;
    let authorized = 0;
    for (const s of this.sessions.values()) {
      if (s.subscribed) subscribed++;
      if (s.workers.size > 0) authorized++;
    }
    const workers: Record<string, ShareCounters> = {};
    for (const [name, c] of this.workerCounters) workers[name] = copyCounters(c);
    return {
      listening: this.server?.listening ?? false,
      host: this.host,
      port: this.portValue,
      height: this.jobs.height,
      difficulty: this.jobs.current?.job.poolDifficulty ?? this.difficultyValue,
      nbits: u32Hex(this.jobs.nbits),
      currentJobId: this.jobs.current?.notify.jobId ?? null,
      jobsIssued: this.jobsIssued,
      connections: this.sessions.size,
      connectionsTotal: this.connectionsTotal,
      subscribed,
      authorized,
      stalled: this.stalled,
      totals: copyCounters(this.totals),
      workers,
      blocks: [...this.blocks],
      methods: { ...this.methods },
      malformedLines: this.malformedLines,
    };
  }

  /** Counters of one worker (all its connections, open or closed). */
  workerStats(worker: string): ShareCounters {
    const c = this.workerCounters.get(worker);
    return c ? copyCounters(c) : newCounters();
  }

  /** Open connections with their counters. */
  connectionStats(): SimPoolConnectionStats[] {
    return [...this.sessions.values()].map((s) => ({
      ...copyCounters(s.counters),
      id: s.id,
      remote: s.remote,
      extranonce1: s.extranonce1,
      workers: [...s.workers],
      subscribed: s.subscribed,
      extranonceSubscribed: s.extranonceSubscribed,
      versionMask: s.versionMask,
      connectedAt: s.connectedAt,
    }));
  }

  /** The open connection a worker is authorized on (first match). */
  connectionOf(worker: string): SimPoolConnectionStats | undefined {
    return this.connectionStats().find((c) => c.workers.includes(worker));
  }

  // ---- internals ------------------------------------------------------------------------------------------

  private targetSessions(target: number | 'all'): PoolSession[] {
    if (target === 'all') return [...this.sessions.values()];
    const s = this.sessions.get(target);
    return s ? [s] : [];
  }

  private async startServer(): Promise<void> {
    const server = net.createServer({ noDelay: true }, (socket) => this.onConnection(socket));
    server.on('error', () => {
      /* a listen error is reported by the listen promise; later errors have no one to tell */
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.host, port: this.portValue, backlog: 4096 }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address();
    if (addr && typeof addr === 'object') this.portValue = addr.port;
    this.server = server;
    this.servers.push(server);
  }

  private allocateExtranonce1(): string {
    const counterBytes = Math.min(4, this.extranonce1Size);
    const modulo = 2 ** (8 * counterBytes);
    this.extranonceCounter = (this.extranonceCounter + 1) % modulo;
    return this.extranoncePrefix + this.extranonceCounter.toString(16).padStart(counterBytes * 2, '0');
  }

  private onConnection(socket: net.Socket): void {
    if (this.closed || this.refusing === 'reset') {
      socket.destroy();
      return;
    }
    const id = this.nextSessionId++;
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    const session = new PoolSession(id, socket, remote, this.opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
    this.sessions.set(id, session);
    this.connectionsTotal++;
    let reason = 'closed by peer';
    socket.on('data', (chunk: Buffer) => {
      if (!session.framer.push(chunk, (line) => this.onLine(session, line))) {
        reason = 'line too long';
        session.close();
      }
    });
    socket.on('error', (err) => {
      reason = err.message;
    });
    socket.on('close', () => {
      session.clearQueue();
      this.sessions.delete(id);
      this.emit('connection', { id, remote, state: 'closed', reason });
    });
    this.emit('connection', { id, remote, state: 'open' });
  }

  private issue(sim: SimJob): SimJob {
    this.jobsIssued++;
    let n = 0;
    if (!this.stalled) {
      const d = sim.job.poolDifficulty;
      let diffLine: Buffer | undefined;
      for (const s of this.sessions.values()) {
        if (!s.working) continue;
        if (s.sentDifficulty !== d) {
          diffLine ??= Buffer.from(notificationLine(Method.SetDifficulty, [d]));
          s.write(diffLine);
          s.sentDifficulty = d;
        }
        s.write(sim.notifyLine);
        n++;
      }
    }
    this.emit('job', { jobId: sim.notify.jobId, height: sim.height, clean: sim.notify.cleanJobs, difficulty: sim.job.poolDifficulty, connections: n });
    return sim;
  }

  /** The first set_difficulty + notify of a session, in order behind its answers. */
  private startWork(s: PoolSession): void {
    const current = this.jobs.current;
    if (s.working || !current) return;
    s.working = true;
    s.sentDifficulty = current.job.poolDifficulty;
    s.send(notificationLine(Method.SetDifficulty, [s.sentDifficulty]));
    s.send(current.notifyLine);
  }

  private onLine(s: PoolSession, line: string): void {
    if (this.stalled || this.closed) return;
    const parsed = parseLine(line);
    if (!parsed.ok) {
      this.malformedLines++;
      s.send(errorLine(parsed.id, parsed.error));
      return;
    }
    const msg = parsed.message;
    if (msg.kind === 'response') return; // e.g. an answer to client.get_version: nothing to do
    this.methods[msg.method] = (this.methods[msg.method] ?? 0) + 1;
    try {
      this.onRequest(s, msg.id, msg.method, msg.params);
    } catch (err) {
      const e = err instanceof StratumError ? err : other(`${msg.method}: ${(err as Error).message}`);
      s.send(errorLine(msg.id, e));
    }
  }

  private onRequest(s: PoolSession, id: RpcId, method: string, params: unknown[]): void {
    switch (method) {
      case Method.Subscribe: {
        if (!s.subscribed) {
          s.subscribed = true;
          s.extranonce1 = this.allocateExtranonce1();
        }
        const subId = `${s.id.toString(16).padStart(8, '0')}${s.extranonce1}`;
        s.send(resultLine(id, [[[Method.SetDifficulty, subId], [Method.Notify, subId]], s.extranonce1, this.extranonce2Size]));
        if ((this.opts.notifyAfter ?? 'subscribe') === 'subscribe' || s.workers.size > 0) this.startWork(s);
        return;
      }
      case Method.Authorize: {
        const { username, password } = parseAuthorize(params);
        const okPassword = this.opts.password === undefined || this.opts.password === password;
        const okUser = this.opts.authorizeUser ? this.opts.authorizeUser(username, password) : true;
        if (!okPassword || !okUser) {
          s.send(errorLine(id, new StratumError(StratumErrorCode.Unauthorized, 'Unauthorized worker')));
          return;
        }
        s.workers.add(username);
        s.send(resultLine(id, true));
        if (s.subscribed) this.startWork(s);
        return;
      }
      case Method.ExtranonceSubscribe:
        s.extranonceSubscribed = true;
        if ((this.opts.extranonceSubscribe ?? 'answer') === 'answer') s.send(resultLine(id, true));
        return;
      case Method.Configure: {
        const cfg = parseConfigure(params);
        if ((this.opts.configure ?? 'answer') === 'silent') return;
        const result: Record<string, unknown> = {};
        for (const ext of cfg.extensions) {
          if (ext === 'version-rolling') {
            const mask = ((requestedVersionMask(cfg) ?? 0) & (this.opts.versionRollingMask ?? 0x1fffe000)) >>> 0;
            s.versionMask = mask;
            result['version-rolling'] = mask !== 0;
            result['version-rolling.mask'] = u32Hex(mask);
          } else {
            result[ext] = false;
          }
        }
        s.send(resultLine(id, result));
        return;
      }
      case Method.SuggestDifficulty:
        if ((this.opts.suggestDifficulty ?? 'silent') === 'answer') s.send(resultLine(id, true));
        return;
      case Method.Submit:
        this.onSubmit(s, id, params);
        return;
      default:
        s.send(errorLine(id, other(`Unsupported method: ${method}`)));
    }
  }

  private countersOf(worker: string): ShareCounters {
    let c = this.workerCounters.get(worker);
    if (!c) {
      // Bounded: names come from the peers. Past the limit, new names share one bucket.
      const name = this.workerCounters.size >= MAX_TRACKED_WORKERS ? OTHER_WORKERS : worker;
      c = this.workerCounters.get(name) ?? newCounters();
      this.workerCounters.set(name, c);
    }
    return c;
  }

  private onSubmit(s: PoolSession, id: RpcId, params: unknown[]): void {
    const delay = this.opts.faults?.submitDelayMs ?? 0;
    const claimed = typeof params[0] === 'string' && params[0].length > 0 && params[0].length <= MAX_WORKER_NAME ? params[0] : null;
    const strict = (this.opts.submitWorkers ?? 'connection') === 'authorized';
    const worker = claimed !== null && (strict ? s.workers.has(claimed) : s.workers.size > 0) ? claimed : null;
    const at = Date.now();
    const counters = [s.counters, this.totals, ...(worker !== null ? [this.countersOf(worker)] : [])];
    for (const c of counters) c.submitted++;
    const refuse = (err: StratumError, extra: Partial<SimPoolShareEvent> = {}) => {
      for (const c of counters) countRejected(c, err.code);
      s.send(errorLine(id, err), delay);
      this.emit('share', { connectionId: s.id, worker, jobId: null, extranonce2: null, nonce: null, accepted: false, code: err.code, message: err.message, shareDifficulty: null, difficulty: null, block: false, at, ...extra });
    };

    let submit: SubmitParams;
    try {
      submit = parseSubmit(params);
    } catch (err) {
      refuse(err instanceof StratumError ? err : other(String(err)));
      return;
    }
    if (!s.subscribed) return refuse(new StratumError(StratumErrorCode.NotSubscribed, 'Not subscribed'));
    if (worker === null) return refuse(new StratumError(StratumErrorCode.Unauthorized, 'Unauthorized worker'));
    const found = this.jobs.lookup(submit.jobId);
    const verdict = this.judge!.judge(submit, found, { extranonce1: s.extranonce1For(found?.seq), versionMask: s.versionMask });
    if (!verdict.accepted) {
      return refuse(verdict.error, { jobId: submit.jobId, extranonce2: submit.extranonce2, nonce: submit.nonce, shareDifficulty: verdict.shareDifficulty ?? null, difficulty: found ? found.job.poolDifficulty : null });
    }
    // The judge takes a block even when it misses the share target, as a real pool checks the block target first.
    const { block, shareDifficulty } = verdict;
    const difficulty = verdict.job.poolDifficulty;
    for (const c of counters) {
      c.accepted++;
      c.acceptedDifficulty += difficulty;
      if (block) c.blocks++;
    }
    s.send(resultLine(id, true), delay);
    this.emit('share', { connectionId: s.id, worker, jobId: submit.jobId, extranonce2: submit.extranonce2, nonce: submit.nonce, accepted: true, code: null, message: null, shareDifficulty, difficulty, block, at });
    if (block) {
      const foundBlock: FoundBlock = {
        height: this.jobs.height,
        hash: displayHash(verdict.hash),
        jobId: submit.jobId,
        worker,
        connectionId: s.id,
        shareDifficulty,
        networkDifficulty: verdict.job.networkDifficulty,
        at,
      };
      this.blocks.push(foundBlock);
      if (this.blocks.length > 1000) this.blocks.shift();
      this.emit('block', foundBlock);
      this.newBlock();
    }
  }
}
