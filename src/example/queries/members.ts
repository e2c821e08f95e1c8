import type { Db, Page } from '../../index.js';
import type { MemberRow } from '../rows.js';

const COLUMNS = 'id, name, email, created_at';

export function listMembers(db: Db, page: Page): Promise<MemberRow[]> {
  return db.query<MemberRow>({
    name: 'members.list',
    text: `SELECT ${COLUMNS} FROM app.members WHERE id > coalesce($1::bigint, 0) ORDER BY id LIMIT $2`,
    values: [page.afterId, page.limit + 1],
  });
}

export async function countMembers(db: Db): Promise<number> {
  const [row] = await db.query<{ n: number }>({
    name: 'members.count',
    text: 'SELECT count(*)::int AS n FROM app.members',
  });
  return row?.n ?? 0;
}

export function membersByIds(db: Db, ids: readonly string[]): Promise<MemberRow[]> {
  return db.query<MemberRow>({
    name: 'members.byIds',
    text: `SELECT ${COLUMNS} FROM app.members WHERE id = ANY($1::bigint[])`,
    values: [ids],
  });
}

/** `email` is the ciphertext and `emailHash` its keyed hash (types/member.ts, memberEmail). */
export async function insertMember(
  db: Db,
  tenantId: number,
  member: { name: string; email: string; emailHash: Buffer },
): Promise<MemberRow> {
  const [row] = await db.query<MemberRow>({
    text: `INSERT INTO app.members (tenant_id, name, email, email_hash) VALUES ($1, $2, $3, $4) RETURNING ${COLUMNS}`,
    values: [tenantId, member.name, member.email, member.emailHash],
  });
  return row!;
}
