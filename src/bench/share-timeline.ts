/**
 * When each benchmark share was sent by its device, received by the pool, and answered to the device, all
 * on one clock (performance.now() of the process that holds both the load generator and the pool). A
 * share is known by its sequence number, which is also its nonce, so the pool can tell which one it got.
 * The times live in rings of typed arrays (no allocation per share); a ring holds `size` shares, far more
 * than one measured step sends.
 */
export class ShareTimeline {
  readonly sentAt: Float64Array;
  readonly poolAt: Float64Array;
  readonly answeredAt: Float64Array;
  /** 1 = accepted by the proxy, 2 = refused, 0 = no answer yet. */
  readonly verdict: Uint8Array;
  private readonly mask: number;

  constructor(readonly size = 1 << 21) {
    if (!Number.isInteger(Math.log2(size))) throw new RangeError('ShareTimeline size must be a power of two');
    this.mask = size - 1;
    this.sentAt = new Float64Array(size);
    this.poolAt = new Float64Array(size);
    this.answeredAt = new Float64Array(size);
    this.verdict = new Uint8Array(size);
  }

  slot(seq: number): number {
    return seq & this.mask;
  }

  sent(seq: number, at: number): void {
    const i = seq & this.mask;
    this.sentAt[i] = at;
    this.poolAt[i] = NaN;
    this.answeredAt[i] = NaN;
    this.verdict[i] = 0;
  }

  received(seq: number, at: number): void {
    const i = seq & this.mask;
    if (Number.isNaN(this.poolAt[i]!)) this.poolAt[i] = at;
  }

  answered(seq: number, at: number, accepted: boolean): void {
    const i = seq & this.mask;
    this.answeredAt[i] = at;
    this.verdict[i] = accepted ? 1 : 2;
  }
}
