import type { NotifyParams } from '../stratum/messages.js';

/**
 * How a device-facing job is derived from a pool job, so a device's extranonce never depends on the pool
 * connection serving it. The pool builds its coinbase as
 *     coinb1 | E (pool extranonce1) | pool extranonce2 (n2 bytes) | coinb2
 * and the proxy cuts the pool's extranonce2 into prefix (P bytes, the device's extranonce1), the device's
 * own extranonce2 (D bytes) and pad (n2 - P - D zero bytes). The device gets
 *     coinb1' = coinb1 | E        coinb2' = pad | coinb2        extranonce1 = prefix, extranonce2 size D
 * and builds exactly the coinbase the pool builds from extranonce2 = prefix | device extranonce2 | pad.
 * Pure: no sockets, no state.
 */

/** The proxy-wide cut of the extranonce2 space (chosen once, at the first pool connection). */
export interface ExtranonceLayout {
  prefixSize: number;
  deviceExtranonce2Size: number;
}

/**
 * Zero bytes a connection whose pool gives `poolExtranonce2Size` bytes appends after the device's
 * extranonce2, or null when that pool's space is too small for the layout (it cannot serve the devices).
 */
export function padSize(layout: ExtranonceLayout, poolExtranonce2Size: number): number | null {
  const pad = poolExtranonce2Size - layout.prefixSize - layout.deviceExtranonce2Size;
  return pad >= 0 ? pad : null;
}

/** The pad as hex (lower-case zeros). */
export function padHex(padBytes: number): string {
  return '00'.repeat(padBytes);
}

/** The job as devices see it: the pool's extranonce1 moved to the end of coinb1, the pad to the start of coinb2. */
export function deviceNotify(pool: NotifyParams, poolExtranonce1: string, padBytes: number): NotifyParams {
  return { ...pool, coinb1: pool.coinb1 + poolExtranonce1.toLowerCase(), coinb2: padHex(padBytes) + pool.coinb2 };
}

/** The extranonce2 the pool receives for a device's share. */
export function upstreamExtranonce2(prefix: string, deviceExtranonce2: string, pad: string): string {
  return prefix + deviceExtranonce2 + pad;
}
