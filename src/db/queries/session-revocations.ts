import type { Db } from './rows.js';

/**
 * Revokes `subject`'s user tokens issued up to now, in the session's tenant, and drops the
 * tenant's revocations older than `keepSeconds` (every token they cover has expired). Resolves
 * the revocation's moment, in ms since the epoch. clock_timestamp, not now(): the moment of this
 * statement, not of the transaction's start, so a token issued while the request ran is covered.
 */
export async function revokeSessions(
  db: Db,
  tenantId: number,
  subject: string,
  keepSeconds: number,
): Promise<number> {
  await db.query({
    name: 'sessions.dropExpired',
    text: `DELETE FROM app.session_revocations WHERE revoked_at < clock_timestamp() - make_interval(secs => $1)`,
    values: [keepSeconds],
  });
  const [row] = await db.query<{ at: number }>({
    name: 'sessions.revoke',
    text: `INSERT INTO app.session_revocations AS r (tenant_id, subject, revoked_at, revoked_by)
           VALUES ($1, $2, clock_timestamp(), app.current_user_id())
           ON CONFLICT (tenant_id, subject) DO UPDATE
             SET revoked_at = greatest(r.revoked_at, excluded.revoked_at), revoked_by = excluded.revoked_by
           RETURNING (extract(epoch FROM revoked_at) * 1000)::float8 AS at`,
    values: [tenantId, subject],
  });
  return row!.at;
}

/**
 * The session's tenant's revocations still in force (newer than `keepSeconds`), subject ->
 * ms since the epoch. Under RLS: another tenant's rows are not there.
 */
export async function liveRevocations(db: Db, keepSeconds: number): Promise<Map<string, number>> {
  const rows = await db.query<{ subject: string; at: number }>({
    name: 'sessions.live',
    text: `SELECT subject, (extract(epoch FROM revoked_at) * 1000)::float8 AS at FROM app.session_revocations
           WHERE revoked_at >= clock_timestamp() - make_interval(secs => $1)`,
    values: [keepSeconds],
  });
  return new Map(rows.map((row) => [row.subject, row.at]));
}
