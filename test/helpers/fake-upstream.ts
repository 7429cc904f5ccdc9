import { EventEmitter } from 'node:events';
import type { NotifyParams } from '../../src/stratum/messages.js';
import { networkTargetOf } from '../../src/upstream/job-check.js';
import type { PoolRef, SubmitResult, Upstream, UpstreamEvents, UpstreamJob, UpstreamSubmit } from '../../src/upstream/types.js';

/**
 * An in-process upstream for proxy tests: the test plays the pool by calling ready()/job()/down(), and
 * decides each submit's answer. No sockets. Like the real one, it hands out only usable jobs (the judge of
 * pool health has its own tests in test/upstream/).
 */
export class FakeUpstream extends EventEmitter implements Upstream {
  isReady = false;
  readonly submits: UpstreamSubmit[] = [];
  readonly authorized: string[] = [];
  answer: (s: UpstreamSubmit) => SubmitResult | Promise<SubmitResult> = () => ({ kind: 'accepted', latencyMs: 1 });
  acceptWorker: (name: string) => boolean = () => true;
  pool = 'fake';
  difficulty = 1;
  extranonce = { extranonce1: 'e155', extranonce2Size: 10 };
  started = false;

  override on<K extends keyof UpstreamEvents>(event: K, listener: (...args: UpstreamEvents[K]) => void): this {
    return super.on(event, listener as (...a: unknown[]) => void);
  }
  override off<K extends keyof UpstreamEvents>(event: K, listener: (...args: UpstreamEvents[K]) => void): this {
    return super.off(event, listener as (...a: unknown[]) => void);
  }
  start(): void {
    this.started = true;
  }
  async stop(): Promise<void> {
    this.isReady = false;
  }
  async submit(s: UpstreamSubmit): Promise<SubmitResult> {
    this.submits.push(s);
    return this.answer(s);
  }
  async authorizeWorker(name: string): Promise<boolean> {
    this.authorized.push(name);
    return this.acceptWorker(name);
  }

  ready(extranonce = this.extranonce): void {
    this.extranonce = extranonce;
    this.isReady = true;
    this.emit('ready', { ...extranonce, ...this.ref });
  }
  /** A usable job from the pool (a test that passes an unusable one is wrong: it throws). */
  job(notify: NotifyParams, difficulty = this.difficulty): void {
    const network = networkTargetOf(notify.nbits);
    if (!network.ok) throw new Error(`FakeUpstream.job: not a usable job: ${network.reason}`);
    const job: UpstreamJob = { ...this.ref, notify, networkTarget: network.value, difficulty, extranonce: { ...this.extranonce }, receivedAt: Date.now() };
    this.emit('job', job);
  }
  down(reason = 'test'): void {
    this.isReady = false;
    this.emit('down', { ...this.ref, reason });
  }
  setExtranonce(extranonce1: string, extranonce2Size: number): void {
    this.extranonce = { extranonce1, extranonce2Size };
    this.emit('extranonce', { ...this.ref, ...this.extranonce });
  }
  /** The pool grants (or changes) its version-rolling mask. */
  setVersionMask(mask: number): void {
    this.emit('versionMask', { ...this.ref, mask });
  }
  private get ref(): PoolRef {
    return { pool: this.pool, url: `stratum+tcp://${this.pool}:3333` };
  }
}
