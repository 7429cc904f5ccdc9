import { Duplex } from 'node:stream';

/**
 * Two in-memory ends of one connection, as a socket pair gives without a socket: bytes written to one end
 * are read from the other. Back-pressure is real: a write completes only once the other end took the bytes
 * into its read buffer (up to `highWaterMark`), so an end that stops reading (`pause()`) makes the writer's
 * `writableLength` grow, as a device that stops reading does to a TCP socket. Like a TCP socket (no half-open),
 * ending one end ends the other, and destroying one end closes both.
 */
export function duplexPair(highWaterMark = 16 * 1024): [Duplex, Duplex] {
  const a = new MemoryEnd(highWaterMark);
  const b = new MemoryEnd(highWaterMark);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

class MemoryEnd extends Duplex {
  peer: MemoryEnd | null = null;
  /** The peer's write waiting for this end to read (set when this end's read buffer is full). */
  private peerWriteDone: ((error?: Error | null) => void) | null = null;

  constructor(highWaterMark: number) {
    super({ allowHalfOpen: false, highWaterMark });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    const peer = this.peer!;
    if (peer.destroyed) return done();
    if (peer.push(chunk)) done();
    else peer.peerWriteDone = done;
  }

  override _read(): void {
    const done = this.peerWriteDone;
    this.peerWriteDone = null;
    done?.();
  }

  override _final(done: (error?: Error | null) => void): void {
    if (!this.peer!.destroyed) this.peer!.push(null);
    done();
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    const peer = this.peer!;
    this.peerWriteDone = null;
    if (!peer.destroyed) peer.destroy();
    done(error);
  }
}
