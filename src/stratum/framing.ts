/**
 * Newline-delimited framing for Stratum V1. Copes with partial lines, several lines in one chunk and `\r\n`.
 * A line longer than `maxLineBytes` is never buffered: the framer reports the overflow once and ignores all
 * further input (the connection is to be closed by its owner).
 */
export const DEFAULT_MAX_LINE_BYTES = 16 * 1024;

export type LineHandler = (line: string) => void;

export class LineFramer {
  /** The start of an unfinished line, in pieces (null while none: most of the time). */
  private parts: Buffer[] | null = null;
  private pendingBytes = 0;
  private overflowed = false;

  constructor(readonly maxLineBytes: number = DEFAULT_MAX_LINE_BYTES) {
    if (!Number.isInteger(maxLineBytes) || maxLineBytes < 64) throw new RangeError(`maxLineBytes must be an integer >= 64, got ${maxLineBytes}`);
  }

  /** True once a line went over the limit; the framer then drops everything. */
  get failed(): boolean {
    return this.overflowed;
  }

  /** Bytes held for an unfinished line. */
  get buffered(): number {
    return this.pendingBytes;
  }

  /**
   * Feed a chunk; `onLine` gets each complete, non-empty line (without `\r\n`). Returns false when the
   * line limit was exceeded (now or before).
   */
  push(chunk: Buffer, onLine: LineHandler): boolean {
    if (this.overflowed) return false;
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl === -1) break;
      let line: Buffer = chunk.subarray(start, nl);
      if (this.parts !== null) {
        if (this.pendingBytes + line.length > this.maxLineBytes) return this.overflow();
        this.parts.push(line);
        line = Buffer.concat(this.parts, this.pendingBytes + line.length);
        this.parts = null;
        this.pendingBytes = 0;
      } else if (line.length > this.maxLineBytes) {
        return this.overflow();
      }
      start = nl + 1;
      let end = line.length;
      if (end > 0 && line[end - 1] === 13) end--;
      if (end > 0) onLine(line.toString('utf8', 0, end));
      if (this.overflowed) return false; // the handler may have failed the framer
    }
    if (start < chunk.length) {
      const rest = chunk.length - start;
      if (this.pendingBytes + rest > this.maxLineBytes) return this.overflow();
      // Copy: the caller's chunk may be a slice of a larger pooled buffer.
      (this.parts ??= []).push(Buffer.from(chunk.subarray(start)));
      this.pendingBytes += rest;
    }
    return true;
  }

  private overflow(): false {
    this.overflowed = true;
    this.parts = null;
    this.pendingBytes = 0;
    return false;
  }
}
