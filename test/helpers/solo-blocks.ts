import type { ProxyEventMap } from '../../src/core/events.js';

/**
 * A `block.submitted` as the proxy emits it for a solo block dashd accepted (route and target default, dashd
 * entry `own-dashd`, found by rig1), with `over` changing any field.
 */
export function blockSubmitted(hash: string, over: Partial<ProxyEventMap['block.submitted']> = {}): ProxyEventMap['block.submitted'] {
  return {
    route: 'default',
    target: 'default',
    connection: 0,
    pool: 'own-dashd',
    sessionId: 1,
    worker: 'rig1',
    shareId: 1,
    hash,
    height: 2_100_000,
    reward: 168_000_000,
    coinbaseValue: 300_000_000,
    payoutAddress: 'XfarmPayout',
    result: 'accepted',
    reason: null,
    at: 0,
    ...over,
  };
}
