import DataLoader from 'dataloader';
import { defineLoader, defineLoaderFamily, groupByKeys, type Page } from '../../index.js';
import { membersByIds } from '../queries/members.js';
import { projectsByIds } from '../queries/projects.js';
import { type TaskParent, taskCountsByParent, taskPagesByParent, tasksByIds } from '../queries/tasks.js';
import type { TaskRow, TaskStatus } from '../rows.js';

// The demo's per-request loaders, beside the types that use them (several types share each).

export const projectById = defineLoader(projectsByIds, (row) => row.id);
export const memberById = defineLoader(membersByIds, (row) => row.id);
export const taskById = defineLoader(tasksByIds, (row) => row.id);

interface TaskFilter {
  readonly parent: TaskParent;
  readonly status: TaskStatus | null;
}

/** A page of tasks per parent; one loader per (parent kind, page, status), which a batch shares. */
export const taskPage = defineLoaderFamily(
  ({ parent, page, status }: TaskFilter & { page: Page }) =>
    `${parent}|${page.afterId}|${page.limit}|${status}`,
  (db, { parent, page, status }) =>
    new DataLoader<string, TaskRow[]>(async (ids) => {
      const rows = await taskPagesByParent(db, parent, ids, page, status);
      return groupByKeys(ids, rows, (r) => r[parent] ?? '');
    }),
);

/** How many tasks each parent has. */
export const taskCount = defineLoaderFamily(
  ({ parent, status }: TaskFilter) => `${parent}|${status}`,
  (db, { parent, status }) =>
    new DataLoader<string, number>(async (ids) => {
      const rows = await taskCountsByParent(db, parent, ids, status);
      const counts = new Map(rows.map((r) => [r.parent_id, r.n]));
      return ids.map((id) => counts.get(id) ?? 0);
    }),
);
