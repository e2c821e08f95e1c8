import type { Db, Page } from '../../index.js';
import type { ProjectRow } from '../rows.js';

const COLUMNS = 'id, name, created_at';

export function listProjects(db: Db, page: Page): Promise<ProjectRow[]> {
  return db.query<ProjectRow>({
    name: 'projects.list',
    text: `SELECT ${COLUMNS} FROM app.projects WHERE id > coalesce($1::bigint, 0) ORDER BY id LIMIT $2`,
    values: [page.afterId, page.limit + 1],
  });
}

export async function countProjects(db: Db): Promise<number> {
  const [row] = await db.query<{ n: number }>({
    name: 'projects.count',
    text: 'SELECT count(*)::int AS n FROM app.projects',
  });
  return row?.n ?? 0;
}

export function projectsByIds(db: Db, ids: readonly string[]): Promise<ProjectRow[]> {
  return db.query<ProjectRow>({
    name: 'projects.byIds',
    text: `SELECT ${COLUMNS} FROM app.projects WHERE id = ANY($1::bigint[])`,
    values: [ids],
  });
}

export async function insertProject(db: Db, tenantId: number, name: string): Promise<ProjectRow> {
  const [row] = await db.query<ProjectRow>({
    text: `INSERT INTO app.projects (tenant_id, name) VALUES ($1, $2) RETURNING ${COLUMNS}`,
    values: [tenantId, name],
  });
  return row!;
}

export async function updateProject(
  db: Db,
  id: string,
  name: string | null,
): Promise<ProjectRow | undefined> {
  const [row] = await db.query<ProjectRow>({
    text: `UPDATE app.projects SET name = coalesce($2, name) WHERE id = $1 RETURNING ${COLUMNS}`,
    values: [id, name],
  });
  return row;
}

/** Its tasks go with it (ON DELETE CASCADE on the composite foreign key). */
export async function deleteProject(db: Db, id: string): Promise<boolean> {
  const rows = await db.query({ text: 'DELETE FROM app.projects WHERE id = $1 RETURNING id', values: [id] });
  return rows.length > 0;
}
