import net from 'node:net';

/**
 * The Stratum handshake of the benchmarks' devices, as cpuminer does it: subscribe when connected, authorize
 * once the subscribe is answered. The caller reads the lines (each benchmark its own way: the fan-out fleet
 * stops parsing JSON once a device is ready) and hands the answers here.
 */

const SUBSCRIBE_ID = 1;
const AUTHORIZE_ID = 2;
/** Characters of a refusal's error kept in its reason (reasons are counted by text). */
const REASON_DETAIL_CHARS = 80;

/** Where a device connects from: a source address (127.0.0.x), and its port when the caller picks it. */
export interface DeviceSource {
  localAddress: string;
  localPort?: number;
}

/**
 * A loopback connection to the proxy at `port` that sends mining.subscribe (as `agent`) once connected,
 * from `source` when given (127.0.0.x: each source address has its own ports).
 */
export function connectAndSubscribe(port: number, agent: string, source?: DeviceSource): net.Socket {
  const socket = net.connect({ host: '127.0.0.1', port, ...source });
  socket.setNoDelay(true);
  socket.on('connect', () => socket.write(`{"id":${SUBSCRIBE_ID},"method":"mining.subscribe","params":["${agent}"]}\n`));
  return socket;
}

export interface HandshakeAnswer {
  id?: unknown;
  result?: unknown;
  error?: unknown;
}

/** What an answer did to the handshake; null: it is not an answer to the handshake. */
export type HandshakeStep =
  | { step: 'subscribed'; extranonce1: string; extranonce2Size: number }
  | { step: 'authorized' }
  | { step: 'refused'; reason: string };

/** Reads a handshake answer; after a granted subscribe it sends mining.authorize for `worker` on `socket`. */
export function handshakeStep(msg: HandshakeAnswer, socket: net.Socket | null, worker: string): HandshakeStep | null {
  if (msg.id === SUBSCRIBE_ID) {
    const r = msg.result;
    if (!Array.isArray(r) || typeof r[1] !== 'string' || typeof r[2] !== 'number') return refused('subscribe', msg.error ?? r);
    socket?.write(`{"id":${AUTHORIZE_ID},"method":"mining.authorize","params":["${worker}","x"]}\n`);
    return { step: 'subscribed', extranonce1: r[1], extranonce2Size: r[2] };
  }
  if (msg.id === AUTHORIZE_ID) return msg.result === true ? { step: 'authorized' } : refused('authorize', msg.error);
  return null;
}

function refused(what: string, detail: unknown): HandshakeStep {
  return { step: 'refused', reason: `${what} refused: ${String(JSON.stringify(detail)).slice(0, REASON_DETAIL_CHARS)}` };
}
