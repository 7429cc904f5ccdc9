/**
 * The standard Stratum V1 error codes, defined in one place.
 * An error travels on the wire as `[code, message, null]`.
 */
export const StratumErrorCode = {
  Other: 20,
  JobNotFound: 21,
  DuplicateShare: 22,
  LowDifficulty: 23,
  Unauthorized: 24,
  NotSubscribed: 25,
} as const;

export type StratumErrorCode = (typeof StratumErrorCode)[keyof typeof StratumErrorCode];

/** Short names used as metric labels and in summaries (`rejected.duplicate`, ...). */
export const rejectReasonOf: Record<StratumErrorCode, RejectReason> = {
  20: 'invalid',
  21: 'stale',
  22: 'duplicate',
  23: 'low_difficulty',
  24: 'unauthorized',
  25: 'not_subscribed',
};

export type RejectReason = 'invalid' | 'stale' | 'duplicate' | 'low_difficulty' | 'unauthorized' | 'not_subscribed';

export type WireError = [code: number, message: string, traceback: null];

/** An error a peer is told about: a code from the table above and a human message. */
export class StratumError extends Error {
  readonly code: StratumErrorCode;
  constructor(code: StratumErrorCode, message: string) {
    super(message);
    this.name = 'StratumError';
    this.code = code;
  }
  toWire(): WireError {
    return [this.code, this.message, null];
  }
}

export const stratumError = (code: StratumErrorCode, message: string): StratumError => new StratumError(code, message);
