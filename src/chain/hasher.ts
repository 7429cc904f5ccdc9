/**
 * The proof-of-work hash behind a small interface, so a faster backend (a native addon, a worker pool) can
 * drop in. A backend is initialised once (asynchronously) and then hashes synchronously.
 */
export interface PowHasher {
  /** Backend name for logs and benchmark output. */
  readonly name: string;
  /**
   * Hash an 80-byte header. The result is the raw digest (internal byte order: read it as a little-endian
   * number; its reverse is the display hash). The returned buffer may be reused by the next call: copy it to keep it.
   */
  hash(header: Uint8Array): Buffer;
}
