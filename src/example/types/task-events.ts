import { z } from 'zod';
import {
  AUTHENTICATED,
  builder,
  type Context,
  defineTopic,
  encodeGlobalId,
  rowIdOrNull,
} from '../../index.js';
import type { TaskRow } from '../rows.js';
import { taskById } from './loaders.js';
import { TaskRef } from './refs.js';

/** A task of the tenant changed: ids only, the subscriber reads the task under its own RLS. */
interface TaskChange {
  kind: 'CREATED' | 'UPDATED' | 'DELETED';
  taskId: string;
  projectId: string;
}

declare module '../../index.js' {
  interface Topics {
    tasks: TaskChange;
  }
}

const rowIdText = z.string().regex(/^[1-9][0-9]{0,17}$/);
const taskChange = z.object({
  kind: z.enum(['CREATED', 'UPDATED', 'DELETED']),
  taskId: rowIdText,
  projectId: rowIdText,
});
defineTopic('tasks', (message) => {
  const parsed = taskChange.safeParse(message);
  return parsed.success ? parsed.data : undefined;
});

const TaskChangeKind = builder.enumType('TaskChangeKind', {
  values: ['CREATED', 'UPDATED', 'DELETED'] as const,
});

const TaskChangedEvent = builder.objectRef<TaskChange>('TaskChangedEvent').implement({
  description: 'A task of the tenant was created, updated or deleted (and committed).',
  fields: (t) => ({
    kind: t.field({ type: TaskChangeKind, resolve: (event) => event.kind }),
    taskId: t.id({ resolve: (event, _args, ctx) => encodeGlobalId('Task', ctx.tenant.id, event.taskId) }),
    task: t.field({
      type: TaskRef,
      nullable: true,
      description: 'The task as it is now; null once deleted.',
      // Read in the event's own short transaction (useSubscriptionTransactions), under RLS.
      resolve: (event, _args, ctx) => (event.kind === 'DELETED' ? null : taskById(ctx).load(event.taskId)),
    }),
  }),
});

builder.subscriptionField('taskChanged', (t) =>
  t.field({
    type: TaskChangedEvent,
    authScopes: AUTHENTICATED,
    description: "The tenant's task changes, optionally of one project, as they commit.",
    args: { projectId: t.arg.id() },
    subscribe: (_root, args, ctx) => {
      if (args.projectId == null) return ctx.events.subscribe(ctx.tenant.id, 'tasks');
      // A malformed or foreign project id is like a project without tasks: no events.
      const projectId = rowIdOrNull(args.projectId, 'Project', ctx.tenant.id);
      return ctx.events.subscribe(ctx.tenant.id, 'tasks', (event) => event.projectId === projectId);
    },
    resolve: (event) => event,
  }),
);

/** Publishes a task change once the mutation's transaction has committed (never on rollback). */
export function publishTaskChange(
  ctx: Context,
  kind: TaskChange['kind'],
  task: Pick<TaskRow, 'id' | 'project_id'>,
): void {
  const tenantId = ctx.tenant.id;
  ctx.db.afterCommit(() =>
    ctx.events.publish(tenantId, 'tasks', { kind, taskId: task.id, projectId: task.project_id }),
  );
}
