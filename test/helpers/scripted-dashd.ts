import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { displayHash } from '../../src/chain/bytes.js';
import { sha256d } from '../../src/chain/sha256.js';

/**
 * A small scripted dashd for the upstream's tests: JSON-RPC 1.0 over node:http on 127.0.0.1, basic auth,
 * and per-method answers the test sets (a result, an RPC error, an HTTP status, silence). Its default
 * answers are a healthy, synced dashd whose templates are valid (easy bits by default). It never judges a
 * block: it records what it got (src/sim/dashd.ts is the simulator that judges).
 */

export type Answer =
  | { result: unknown }
  | { error: { code: number; message: string } }
  /** An HTTP status with a raw body (401 without JSON, a proxy's HTML page...). */
  | { http: number; body?: string }
  /** Never answer (the client's wait runs out). */
  | 'hang'
  /** Cut the connection without an answer. */
  | 'drop';

export type Handler = (params: unknown[], call: RecordedCall) => Answer | Promise<Answer>;

export interface RecordedCall {
  method: string;
  params: unknown[];
  at: number;
}

/** The P2PKH script of a fixed test address (20 bytes of 0x11). */
export const PAYOUT_SCRIPT = '76a914' + '11'.repeat(20) + '88ac';
export const PAYOUT_ADDRESS = 'yQG3wqDEYrW4sp9UcgF6gJWjjgAgmsSFV7';
/** The bits of a template every share is a block on (target 0x7fffff * 2^232: about half of all hashes). */
export const EASY_BITS = '207fffff';

export interface TemplateInputs {
  height?: number;
  prevhash?: string;
  bits?: string;
  longpollid?: string | null;
  coinbasevalue?: number;
  masternode?: unknown;
  superblock?: unknown;
  rules?: string[];
  curtime?: number;
}

/** The target hex (64 digits) of compact bits. */
export function targetHex(bits: string): string {
  const n = parseInt(bits, 16);
  const exponent = n >>> 24;
  const mantissa = BigInt(n & 0x007fffff);
  const target = exponent <= 3 ? mantissa >> BigInt(8 * (3 - exponent)) : mantissa << BigInt(8 * (exponent - 3));
  return target.toString(16).padStart(64, '0');
}

/** A one-transaction-like raw tx (not a real spend: its bytes only need a txid). */
const TX = '01000000' + '01' + 'ab'.repeat(32) + '00000000' + '00' + 'ffffffff' + '01' + '1027000000000000' + '19' + PAYOUT_SCRIPT + '00000000';

/** A valid Dash Core 20 style template: platform `6a` output first, then a masternode payee; a CbTx payload. */
export function dashdTemplate(o: TemplateInputs = {}): Record<string, unknown> {
  const height = o.height ?? 2_100_000;
  // CbTx v3: version, height, two merkle roots, bestCLHeightDiff (compact size 0), bestCLSignature, creditPoolBalance.
  const payload = Buffer.alloc(6 + 64 + 1 + 96 + 8);
  payload.writeUInt16LE(3, 0);
  payload.writeUInt32LE(height, 2);
  const bits = o.bits ?? EASY_BITS;
  return {
    version: 0x20000000,
    rules: o.rules ?? ['v20', 'mn_rr'],
    previousblockhash: o.prevhash ?? 'aa'.repeat(31) + '00',
    transactions: [{ data: TX, hash: displayHash(sha256d(Buffer.from(TX, 'hex'))), depends: [], fee: 1000, sigops: 1 }],
    coinbaseaux: {},
    coinbasevalue: o.coinbasevalue ?? 230_000_000,
    longpollid: o.longpollid === undefined ? `${o.prevhash ?? 'tip'}-1` : o.longpollid,
    target: targetHex(bits),
    mintime: 1_700_000_000,
    mutable: ['time', 'transactions', 'prevblock'],
    noncerange: '00000000ffffffff',
    sigoplimit: 40000,
    sizelimit: 2000000,
    curtime: o.curtime ?? Math.floor(Date.now() / 1000),
    bits,
    previousbits: bits,
    height,
    masternode: o.masternode ?? [
      { payee: '', script: '6a', amount: 37_637_979 },
      { payee: 'yTestMasternodePayee', script: '76a914' + '22'.repeat(20) + '88ac', amount: 62_729_966 },
    ],
    masternode_payments_started: true,
    masternode_payments_enforced: true,
    superblock: o.superblock ?? [],
    superblocks_started: true,
    superblocks_enabled: true,
    coinbase_payload: payload.toString('hex'),
  };
}

export interface ScriptedDashdOptions {
  user?: string;
  password?: string;
}

export class ScriptedDashd {
  readonly calls: RecordedCall[] = [];
  /** Answers by method (a test replaces them); `getblocktemplate` with a `longpollid` goes to `longpoll`. */
  readonly handlers: Record<string, Handler> = {};
  /** The tip the default answers use. */
  tip = 'aa'.repeat(31) + '00';
  height = 2_100_000;
  bits = EASY_BITS;
  /** Blocks `submitblock` got (hex) when it answers by default (null: accepted). */
  readonly blocks: string[] = [];
  /** Logins the server accepts (`user:password`); the first is the default. */
  logins: string[];
  private server!: Server;
  private portNow = 0;
  private readonly waiting = new Set<() => void>();

  private constructor(o: ScriptedDashdOptions) {
    this.logins = [`${o.user ?? 'rpcuser'}:${o.password ?? 'rpcpass'}`];
    this.handlers.getblockchaininfo = () => ({ result: { chain: 'test', blocks: this.height - 1, initialblockdownload: false, verificationprogress: 0.9999 } });
    this.handlers.validateaddress = (p) => ({ result: p[0] === PAYOUT_ADDRESS ? { isvalid: true, address: PAYOUT_ADDRESS, scriptPubKey: PAYOUT_SCRIPT, isscript: false } : { isvalid: false } });
    this.handlers.getblocktemplate = () => ({ result: this.template() });
    this.handlers.longpoll = (p) => this.longpollAnswer(p);
    this.handlers.getbestblockhash = () => ({ result: this.tip });
    this.handlers.submitblock = (p) => {
      this.blocks.push(String(p[0]));
      return { result: null };
    };
  }

  static async start(o: ScriptedDashdOptions = {}): Promise<ScriptedDashd> {
    const d = new ScriptedDashd(o);
    await d.listen(0);
    return d;
  }

  get port(): number {
    return this.portNow;
  }
  get url(): string {
    return `http://127.0.0.1:${this.portNow}`;
  }

  /** The template of the current tip. */
  template(extra: TemplateInputs = {}): Record<string, unknown> {
    return dashdTemplate({ height: this.height, prevhash: this.tip, bits: this.bits, longpollid: `${this.tip}-lp`, ...extra });
  }

  /** A new tip (someone found a block): waiting long polls are answered. */
  newTip(hash: string): void {
    this.tip = hash;
    this.height++;
    for (const wake of [...this.waiting]) wake();
  }

  /** Calls of `method` so far. */
  count(method: string): number {
    return this.calls.filter((c) => c.method === method).length;
  }

  /** Stop listening (connections cut): dashd went away. */
  async stop(): Promise<void> {
    for (const wake of [...this.waiting]) wake();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** Listen again on the same port. */
  async restart(): Promise<void> {
    await this.listen(this.portNow);
  }

  async close(): Promise<void> {
    if (this.server.listening) await this.stop();
  }

  private async longpollAnswer(params: unknown[]): Promise<Answer> {
    const id = (params[0] as { longpollid?: string }).longpollid;
    if (id === `${this.tip}-lp`) {
      // Held until the tip changes (or 5 s: a real dashd answers after a while too).
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.waiting.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, 5000);
        this.waiting.add(wake);
      });
    }
    return { result: this.template() };
  }

  private listen(port: number): Promise<void> {
    this.server = createServer((req, res) => void this.onRequest(req, res));
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.portNow = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const auth = req.headers.authorization ?? '';
    const login = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString() : '';
    if (!this.logins.includes(login)) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="jsonrpc"' }).end();
      return;
    }
    let body: { id?: unknown; method?: string; params?: unknown[] };
    try {
      body = JSON.parse(Buffer.concat(chunks).toString()) as typeof body;
    } catch {
      res.writeHead(500).end('{"result":null,"error":{"code":-32700,"message":"Parse error"},"id":null}');
      return;
    }
    const params = body.params ?? [];
    const call = { method: String(body.method), params, at: Date.now() };
    this.calls.push(call);
    const isLongpoll = call.method === 'getblocktemplate' && typeof (params[0] as { longpollid?: unknown } | undefined)?.longpollid === 'string';
    const handler = this.handlers[isLongpoll ? 'longpoll' : call.method];
    const answer: Answer = handler ? await handler(params, call) : { error: { code: -32601, message: 'Method not found' } };
    if (answer === 'hang') return; // the socket stays open until the client gives up or the server stops
    if (answer === 'drop') {
      req.socket.destroy();
      return;
    }
    if ('http' in answer) {
      res.writeHead(answer.http).end(answer.body ?? '');
      return;
    }
    const payload = 'error' in answer ? { result: null, error: answer.error, id: body.id } : { result: answer.result, error: null, id: body.id };
    // Dash Core answers RPC errors with HTTP 500 (404 for an unknown method).
    const status = 'error' in answer ? (answer.error.code === -32601 ? 404 : 500) : 200;
    if (!res.destroyed) res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
  }
}
