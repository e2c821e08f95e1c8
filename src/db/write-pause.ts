/**
 * The write pause of `tenantql tenants move` (SPEC §11), kept by PostgreSQL itself: every write
 * transaction of a tenant takes a shared advisory lock on (WRITE_PAUSE_LOCK_CLASS, tenant id)
 * in the database its rows are in, and the move holds the exclusive one while it copies. The
 * pause so reaches every instance at once, needs no Valkey, and ends by itself when the move's
 * session ends — a move killed at any step never leaves a tenant paused.
 *
 * The same statement reads the tenant's placement as the database it runs in records it: a
 * write that reaches the tenant's old place after a move switched it (an instance that has not
 * heard yet) is refused too, so no write lands where the rows no longer are.
 */
export const WRITE_PAUSE_LOCK_CLASS = 0x7477;

export type Place = 'shared' | 'database';

/** Run after the tenant settings, in a write transaction: one row, `writable` and `placed`. */
export function writeFenceStatement(tenantId: number): string {
  const id = Math.trunc(tenantId);
  // A shared lock queued behind a waiting exclusive one is refused too: once a move asks for the
  // pause, no new write begins, and the move gets it as soon as the writes already running end.
  return `SELECT pg_try_advisory_xact_lock_shared(${WRITE_PAUSE_LOCK_CLASS}, ${id}) AS writable, coalesce((SELECT isolation FROM app.tenants WHERE id = ${id}), 'shared') AS placed`;
}

export interface WriteFenceRow {
  writable: boolean;
  placed: Place;
}
