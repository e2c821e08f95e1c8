import { hostname, userInfo } from 'node:os';
import type pg from 'pg';

export type LifecycleCommand = 'provision' | 'export' | 'import' | 'move' | 'purge';

/**
 * Records that `command` ran for `tenantId` (SPEC §11: the audit of lifecycle commands), in the
 * main database, as the connection's role (the owner or a superuser). `actor` names the
 * operating-system user and host and the database role, since a command has no token.
 */
export async function recordLifecycleEvent(
  client: pg.ClientBase,
  tenantId: number,
  command: LifecycleCommand,
  detail: Record<string, unknown> = {},
): Promise<void> {
  await client.query(
    `INSERT INTO app.lifecycle_events (tenant, command, actor, detail)
     VALUES ($1, $2, $3 || ' as ' || current_user, $4::jsonb)`,
    [tenantId, command, `${userInfo().username}@${hostname()}`, JSON.stringify(detail)],
  );
}
