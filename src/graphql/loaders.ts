import DataLoader from 'dataloader';
import { membersByIds } from '../db/queries/members.js';
import { projectsByIds } from '../db/queries/projects.js';
import type { Db, MemberRow, Page, ProjectRow, TaskRow, TaskStatus } from '../db/queries/rows.js';
import { type TaskParent, taskCountsByParent, taskPagesByParent, tasksByIds } from '../db/queries/tasks.js';

/** Orders batch results like the keys; a missing row (or another tenant's) is null. */
function byKeys<R>(keys: readonly string[], rows: readonly R[], keyOf: (row: R) => string): (R | null)[] {
  const found = new Map(rows.map((row) => [keyOf(row), row]));
  return keys.map((key) => found.get(key) ?? null);
}

function groupByKeys<R>(keys: readonly string[], rows: readonly R[], keyOf: (row: R) => string): R[][] {
  const groups = new Map<string, R[]>(keys.map((key) => [key, []]));
  for (const row of rows) groups.get(keyOf(row))?.push(row);
  return keys.map((key) => groups.get(key) ?? []);
}

/**
 * DataLoaders for one request, created lazily. They live on the request's context and die
 * with it, so nothing they cache can reach another request or tenant.
 */
export class Loaders {
  #project?: DataLoader<string, ProjectRow | null>;
  #member?: DataLoader<string, MemberRow | null>;
  #task?: DataLoader<string, TaskRow | null>;
  readonly #taskPages = new Map<string, DataLoader<string, TaskRow[]>>();
  readonly #taskCounts = new Map<string, DataLoader<string, number>>();

  constructor(private readonly db: Db) {}

  get project(): DataLoader<string, ProjectRow | null> {
    this.#project ??= new DataLoader(async (ids) =>
      byKeys(ids, await projectsByIds(this.db, ids), (r) => r.id),
    );
    return this.#project;
  }

  get member(): DataLoader<string, MemberRow | null> {
    this.#member ??= new DataLoader(async (ids) =>
      byKeys(ids, await membersByIds(this.db, ids), (r) => r.id),
    );
    return this.#member;
  }

  get task(): DataLoader<string, TaskRow | null> {
    this.#task ??= new DataLoader(async (ids) => byKeys(ids, await tasksByIds(this.db, ids), (r) => r.id));
    return this.#task;
  }

  /** One loader per (parent kind, page, status): a batch shares its page arguments. */
  taskPage(parent: TaskParent, page: Page, status: TaskStatus | null): DataLoader<string, TaskRow[]> {
    const key = `${parent}|${page.afterId}|${page.limit}|${status}`;
    let loader = this.#taskPages.get(key);
    if (!loader) {
      loader = new DataLoader(async (ids) => {
        const rows = await taskPagesByParent(this.db, parent, ids, page, status);
        return groupByKeys(ids, rows, (r) => r[parent] ?? '');
      });
      this.#taskPages.set(key, loader);
    }
    return loader;
  }

  taskCount(parent: TaskParent, status: TaskStatus | null): DataLoader<string, number> {
    const key = `${parent}|${status}`;
    let loader = this.#taskCounts.get(key);
    if (!loader) {
      loader = new DataLoader(async (ids) => {
        const rows = await taskCountsByParent(this.db, parent, ids, status);
        const counts = new Map(rows.map((r) => [r.parent_id, r.n]));
        return ids.map((id) => counts.get(id) ?? 0);
      });
      this.#taskCounts.set(key, loader);
    }
    return loader;
  }
}
