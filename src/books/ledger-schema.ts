/**
 * The ledger's schema, as versioned migrations. Migration N takes a database at version N-1 to version N;
 * a store applies, at start, every migration above the version it finds (recorded in `schema_version`).
 * The SQL is kept to what SQLite and PostgreSQL both read the same way (BIGINT times in ms since the epoch,
 * DOUBLE PRECISION difficulties, natural primary keys, no autoincrement), so a PostgreSQL store can run the
 * same migrations and hold the same rows.
 */
export interface Migration {
  version: number;
  /** What it adds, in words (kept in the schema_version row). */
  description: string;
  statements: readonly string[];
}

/**
 * Marks a database as ours: SQLite's application_id, PostgreSQL's advisory lock key for migrations (and the
 * comment on its schema_version table). "DFPX".
 */
export const LEDGER_MARK = 0x44465058;

/** The table every ledger has from version 1 on; its absence in a non-empty database means "not ours". */
export const SCHEMA_VERSION_TABLE = 'schema_version';

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'runs, shares sent to the pool, per-minute work of each worker, pool switches',
    statements: [
      `CREATE TABLE ${SCHEMA_VERSION_TABLE} (
        version BIGINT PRIMARY KEY,
        description TEXT NOT NULL,
        applied_at BIGINT NOT NULL
      )`,
      // One row per start of the proxy. stopped_at stays NULL when it did not stop cleanly (killed, crashed,
      // power lost): the next start shows the gap from last_seen_at (its last commit) to its own started_at.
      `CREATE TABLE proxy_runs (
        run_id TEXT PRIMARY KEY,
        started_at BIGINT NOT NULL,
        last_seen_at BIGINT NOT NULL,
        stopped_at BIGINT,
        stop_reason TEXT,
        pid BIGINT NOT NULL,
        host TEXT NOT NULL,
        version TEXT NOT NULL
      )`,
      // Every share sent to the pool, with the pool's verdict: accepted, rejected (code and reason) or
      // unanswered (no_answer_cause: timeout, connection-lost, no-pool). at: when the device submitted it;
      // answered_at: when the verdict (or its absence) was known.
      `CREATE TABLE shares (
        run_id TEXT NOT NULL,
        share_id BIGINT NOT NULL,
        at BIGINT NOT NULL,
        answered_at BIGINT NOT NULL,
        worker TEXT NOT NULL,
        owner TEXT NOT NULL,
        pool TEXT NOT NULL,
        connection BIGINT NOT NULL,
        job_id TEXT NOT NULL,
        credited_difficulty DOUBLE PRECISION NOT NULL,
        share_difficulty DOUBLE PRECISION NOT NULL,
        verdict TEXT NOT NULL CHECK (verdict IN ('accepted', 'rejected', 'unanswered')),
        reject_code BIGINT,
        reason TEXT,
        no_answer_cause TEXT,
        latency_ms DOUBLE PRECISION NOT NULL,
        block_candidate BIGINT NOT NULL CHECK (block_candidate IN (0, 1)),
        block_hash TEXT,
        PRIMARY KEY (run_id, share_id)
      )`,
      `CREATE INDEX shares_at ON shares (at)`,
      // Each worker's work per minute (minute: its first ms). local_*: every share the proxy accepted at the
      // device's target (forwarded or not); the verdict columns count the shares sent to the pool, by the
      // minute they were submitted in, and accepted_work sums their credited difficulty when the pool
      // accepted them. The verdict columns always equal the share rows grouped the same way.
      `CREATE TABLE worker_minutes (
        minute BIGINT NOT NULL,
        worker TEXT NOT NULL,
        owner TEXT NOT NULL,
        local_shares BIGINT NOT NULL DEFAULT 0,
        local_work DOUBLE PRECISION NOT NULL DEFAULT 0,
        accepted BIGINT NOT NULL DEFAULT 0,
        rejected BIGINT NOT NULL DEFAULT 0,
        unanswered BIGINT NOT NULL DEFAULT 0,
        accepted_work DOUBLE PRECISION NOT NULL DEFAULT 0,
        PRIMARY KEY (minute, worker, owner)
      )`,
      `CREATE TABLE pool_switches (
        run_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        at BIGINT NOT NULL,
        connection BIGINT NOT NULL,
        from_pool TEXT,
        to_pool TEXT NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
      )`,
    ],
  },
  {
    version: 2,
    description: 'payouts recorded and their splits among owners; the network difficulty of each share (PPS)',
    statements: [
      // The network's difficulty when the share was mined (what PPS values it by); NULL on rows written
      // before version 2, which PPS therefore refuses to value.
      `ALTER TABLE shares ADD COLUMN network_difficulty DOUBLE PRECISION`,
      // A payout the pool made, as recorded: the amount in duffs, the method that split it, the period it
      // pays for [period_from, period_to), and for PPLNS the blocks (JSON list of times in ms) and window;
      // for PPS the block reward the work was valued at. id: 1, 2, ... in the order recorded.
      `CREATE TABLE payouts (
        id BIGINT PRIMARY KEY,
        recorded_at BIGINT NOT NULL,
        amount_duffs BIGINT NOT NULL CHECK (amount_duffs >= 0),
        method TEXT NOT NULL CHECK (method IN ('prop', 'pplns', 'pps')),
        period_from BIGINT NOT NULL,
        period_to BIGINT NOT NULL,
        blocks TEXT,
        pplns_window DOUBLE PRECISION,
        block_reward_duffs BIGINT,
        note TEXT
      )`,
      // Each owner's part of a payout (src/books/payouts.ts): total = gross - fee + fees_received, and the
      // totals of a payout sum to its amount (ledger verify checks both). work: as the method counted it.
      `CREATE TABLE payout_splits (
        payout_id BIGINT NOT NULL REFERENCES payouts (id),
        owner TEXT NOT NULL,
        work DOUBLE PRECISION NOT NULL,
        gross_duffs BIGINT NOT NULL,
        fee_duffs BIGINT NOT NULL,
        fees_received_duffs BIGINT NOT NULL,
        total_duffs BIGINT NOT NULL,
        PRIMARY KEY (payout_id, owner)
      )`,
    ],
  },
  {
    version: 3,
    description: 'routing: the route and target of each share sent to the pool and of each pool switch',
    statements: [
      // Which route took the device and which of its targets the share went to (src/routing/): a share
      // always goes to the target of the job it was mined on. Rows written before version 3 are the only
      // route and target there was then: 'default' / 'default'. worker_minutes stays per worker (its local_*
      // columns count shares accepted at the device, before any target): ledger verify compares it with the
      // share rows of all targets of the worker, and reports by route or target read the share rows.
      `ALTER TABLE shares ADD COLUMN route TEXT NOT NULL DEFAULT 'default'`,
      `ALTER TABLE shares ADD COLUMN target TEXT NOT NULL DEFAULT 'default'`,
      // The connection that switched pools belongs to this route's target.
      `ALTER TABLE pool_switches ADD COLUMN route TEXT NOT NULL DEFAULT 'default'`,
      `ALTER TABLE pool_switches ADD COLUMN target TEXT NOT NULL DEFAULT 'default'`,
    ],
  },
  {
    version: 4,
    description: 'solo mining: the blocks the proxy submitted to its dashd, their place on the best chain, and the payout of each final one',
    statements: [
      // A block assembled from share share_id of run run_id and sent with submitblock (src/upstream/, issue 16);
      // found_at: when dashd answered. reward_duffs: what the coinbase pays the farm (payout_address), the
      // template's coinbase_value_duffs less the masternode and superblock payments. submit_result: dashd's
      // answer (accepted, inconclusive, rejected, unanswered) with submit_reason. status: submitted (or
      // rejected) at first, then as the block watcher last saw it (in-chain, chainlocked, mature, orphaned)
      // at status_at. payout_id: the payout that split reward_duffs among owners, set in the transaction that
      // recorded it, once (only a chainlocked or mature block is paid; an orphaned one never).
      `CREATE TABLE blocks (
        hash TEXT PRIMARY KEY,
        height BIGINT NOT NULL,
        found_at BIGINT NOT NULL,
        run_id TEXT NOT NULL,
        share_id BIGINT NOT NULL,
        worker TEXT NOT NULL,
        owner TEXT NOT NULL,
        route TEXT NOT NULL,
        target TEXT NOT NULL,
        pool TEXT NOT NULL,
        connection BIGINT NOT NULL,
        reward_duffs BIGINT NOT NULL CHECK (reward_duffs >= 0),
        coinbase_value_duffs BIGINT NOT NULL CHECK (coinbase_value_duffs >= 0),
        payout_address TEXT NOT NULL,
        submit_result TEXT NOT NULL CHECK (submit_result IN ('accepted', 'inconclusive', 'rejected', 'unanswered')),
        submit_reason TEXT,
        status TEXT NOT NULL CHECK (status IN ('submitted', 'in-chain', 'chainlocked', 'mature', 'orphaned', 'rejected')),
        status_reason TEXT,
        confirmations BIGINT NOT NULL,
        chainlock BIGINT NOT NULL CHECK (chainlock IN (0, 1)),
        status_at BIGINT NOT NULL,
        payout_id BIGINT REFERENCES payouts (id)
      )`,
      `CREATE INDEX blocks_found_at ON blocks (found_at)`,
    ],
  },
];

/** The newest schema this code knows. */
export const LEDGER_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** The migrations to apply to a database at `current` (0: empty), in order. */
export function pendingMigrations(current: number): readonly Migration[] {
  return MIGRATIONS.filter((m) => m.version > current);
}
