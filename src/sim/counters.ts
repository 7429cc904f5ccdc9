/** Share counters shared by the simulated pool and the simulated fleet. */
export interface ShareCounters {
  /** Shares sent (fleet) or received (pool). */
  submitted: number;
  accepted: number;
  rejected: number;
  /** Rejections by Stratum error code (20..25, or whatever a peer sent). */
  rejectedByCode: Record<number, number>;
  /** Accepted shares that met the network target. */
  blocks: number;
  /** Sum of the difficulty credited to accepted shares (work). */
  acceptedDifficulty: number;
}

export function newCounters(): ShareCounters {
  return { submitted: 0, accepted: 0, rejected: 0, rejectedByCode: {}, blocks: 0, acceptedDifficulty: 0 };
}

export function countRejected(c: ShareCounters, code: number): void {
  c.rejected++;
  c.rejectedByCode[code] = (c.rejectedByCode[code] ?? 0) + 1;
}

export function addCounters(into: ShareCounters, from: ShareCounters): ShareCounters {
  into.submitted += from.submitted;
  into.accepted += from.accepted;
  into.rejected += from.rejected;
  into.blocks += from.blocks;
  into.acceptedDifficulty += from.acceptedDifficulty;
  for (const [code, n] of Object.entries(from.rejectedByCode)) {
    const k = Number(code);
    into.rejectedByCode[k] = (into.rejectedByCode[k] ?? 0) + n;
  }
  return into;
}

export function copyCounters(c: ShareCounters): ShareCounters {
  return addCounters(newCounters(), c);
}
