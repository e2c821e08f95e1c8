import type { Db, Page } from '../../index.js';
import type { TaskRow, TaskStatus } from '../rows.js';

const COLUMNS = 'id, project_id, title, status, assignee_id, created_at, updated_at';

export function tasksByIds(db: Db, ids: readonly string[]): Promise<TaskRow[]> {
  return db.query<TaskRow>({
    name: 'tasks.byIds',
    text: `SELECT ${COLUMNS} FROM app.tasks WHERE id = ANY($1::bigint[])`,
    values: [ids],
  });
}

export type TaskParent = 'project_id' | 'assignee_id';

/**
 * One page of tasks for each of many parents in one statement (a DataLoader batch):
 * row_number() per parent keeps the first `limit + 1` after the cursor.
 */
export function taskPagesByParent(
  db: Db,
  parent: TaskParent,
  parentIds: readonly string[],
  page: Page,
  status: TaskStatus | null,
): Promise<TaskRow[]> {
  return db.query<TaskRow>({
    name: `tasks.pageBy.${parent}`,
    text: `SELECT ${COLUMNS} FROM (
             SELECT t.*, row_number() OVER (PARTITION BY t.${parent} ORDER BY t.id) AS rn
             FROM app.tasks t
             WHERE t.${parent} = ANY($1::bigint[]) AND t.id > coalesce($2::bigint, 0)
               AND ($3::text IS NULL OR t.status = $3)
           ) ranked
           WHERE rn <= $4
           ORDER BY ${parent}, id`,
    values: [parentIds, page.afterId, status, page.limit + 1],
  });
}

export function taskCountsByParent(
  db: Db,
  parent: TaskParent,
  parentIds: readonly string[],
  status: TaskStatus | null,
): Promise<{ parent_id: string; n: number }[]> {
  return db.query({
    name: `tasks.countBy.${parent}`,
    text: `SELECT ${parent} AS parent_id, count(*)::int AS n FROM app.tasks
           WHERE ${parent} = ANY($1::bigint[]) AND ($2::text IS NULL OR status = $2)
           GROUP BY ${parent}`,
    values: [parentIds, status],
  });
}

export interface NewTask {
  projectId: string;
  title: string;
  assigneeId: string | null;
  status: TaskStatus;
}

/** A project or assignee of another tenant fails the composite foreign key: NOT_FOUND. */
export async function insertTask(db: Db, tenantId: number, task: NewTask): Promise<TaskRow> {
  const [row] = await db.query<TaskRow>({
    text: `INSERT INTO app.tasks (tenant_id, project_id, title, assignee_id, status)
           VALUES ($1, $2, $3, $4, $5) RETURNING ${COLUMNS}`,
    values: [tenantId, task.projectId, task.title, task.assigneeId, task.status],
  });
  return row!;
}

export interface TaskChanges {
  title: string | null;
  status: TaskStatus | null;
  /** undefined: leave as is; null: unassign. */
  assigneeId: string | null | undefined;
}

export async function updateTask(db: Db, id: string, changes: TaskChanges): Promise<TaskRow | undefined> {
  const [row] = await db.query<TaskRow>({
    text: `UPDATE app.tasks SET
             title = coalesce($2, title),
             status = coalesce($3, status),
             assignee_id = CASE WHEN $4 THEN $5::bigint ELSE assignee_id END,
             updated_at = now()
           WHERE id = $1 RETURNING ${COLUMNS}`,
    values: [id, changes.title, changes.status, changes.assigneeId !== undefined, changes.assigneeId ?? null],
  });
  return row;
}

export async function deleteTask(db: Db, id: string): Promise<TaskRow | undefined> {
  const [row] = await db.query<TaskRow>({
    text: `DELETE FROM app.tasks WHERE id = $1 RETURNING ${COLUMNS}`,
    values: [id],
  });
  return row;
}

/**
 * The project's tasks, deleted explicitly just before the project (whose cascade would delete
 * them silently), so that a DELETED event can be published for each.
 */
export function deleteTasksOfProject(
  db: Db,
  projectId: string,
): Promise<Pick<TaskRow, 'id' | 'project_id'>[]> {
  return db.query({
    text: 'DELETE FROM app.tasks WHERE project_id = $1 RETURNING id, project_id',
    values: [projectId],
  });
}
