import crypto from 'node:crypto';

/** SHA-256 twice (txids and the merkle tree; Dash uses X11 only for the block hash). Returns internal byte order. */
export const sha256d: (data: Uint8Array) => Buffer =
  typeof crypto.hash === 'function'
    ? (data) => crypto.hash('sha256', crypto.hash('sha256', data, 'buffer'), 'buffer') as Buffer
    : (data) => crypto.createHash('sha256').update(crypto.createHash('sha256').update(data).digest()).digest();
