import { EventEmitter } from 'node:events';
import type { RejectReason } from '../stratum/errors.js';

/**
 * The typed event stream: the proxy core emits, observers (stats, metrics, the websocket feed, webhooks,
 * logs) listen. Observers never call back into the proxy, so data keeps flowing one way.
 */
export interface ProxyEventMap {
  'device.connected': { sessionId: number; ip: string; at: number };
  'device.authorized': { sessionId: number; worker: string; ip: string; at: number };
  'device.disconnected': { sessionId: number; worker: string | null; ip: string; reason: string; at: number };
  'device.difficulty': { sessionId: number; worker: string; difficulty: number; at: number };
  'share.accepted': {
    sessionId: number;
    worker: string;
    ip: string;
    /** Difficulty credited to the device (its target). Work = sum of these. */
    difficulty: number;
    /** Difficulty the hash actually achieved. */
    shareDifficulty: number;
    meetsPool: boolean;
    meetsNetwork: boolean;
    at: number;
  };
  'share.rejected': { sessionId: number; worker: string | null; ip: string; reason: RejectReason; code: number; message: string; at: number };
  'share.upstream': { sessionId: number; worker: string; pool: string; accepted: boolean; reason: string | null; latencyMs: number; at: number };
  'block.candidate': { sessionId: number; worker: string; pool: string; jobId: string; hash: string; shareDifficulty: number; networkDifficulty: number; at: number };
  'pool.up': { pool: string; url: string; at: number };
  'pool.down': { pool: string; url: string; reason: string; at: number };
  'pool.switch': { from: string | null; to: string; reason: string; at: number };
  'pool.connections': { count: number; at: number };
  'job.fanout': { jobId: string; clean: boolean; devices: number; seconds: number; at: number };
  'limit.refused': { cause: string; ip: string; at: number };
}

export type ProxyEventName = keyof ProxyEventMap;
export type ProxyEvent<K extends ProxyEventName = ProxyEventName> = ProxyEventMap[K];

export class EventBus {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(100);
  }

  on<K extends ProxyEventName>(name: K, listener: (event: ProxyEventMap[K]) => void): () => void {
    this.emitter.on(name, listener);
    return () => this.emitter.off(name, listener);
  }

  emit<K extends ProxyEventName>(name: K, event: ProxyEventMap[K]): void {
    // A failing observer must never break the share path.
    try {
      this.emitter.emit(name, event);
    } catch (err) {
      process.emitWarning(`observer of ${name} threw: ${(err as Error).message}`);
    }
  }
}
