import {
  AUTHENTICATED,
  builder,
  encodeGlobalId,
  MEMBER,
  Node,
  notFound,
  optionalText,
  registerNodeType,
  requiredText,
  rowId,
  rowIdOrNull,
  tableField,
} from '../../index.js';
import * as tasks from '../queries/tasks.js';
import { memberById, projectById, taskById } from './loaders.js';
import { MemberRef, ProjectRef, TaskRef, TaskStatusEnum } from './refs.js';
import { publishTaskChange } from './task-events.js';

registerNodeType('Task', (ctx, id) => taskById(ctx).load(id), { table: 'app.tasks' });

TaskRef.implement({
  interfaces: [Node],
  fields: (t) => ({
    id: t.id({
      extensions: tableField({ globalId: true }),
      resolve: (task, _args, ctx) => encodeGlobalId('Task', ctx.tenant.id, task.id),
    }),
    title: t.exposeString('title'),
    status: t.field({
      type: TaskStatusEnum,
      extensions: tableField({ column: 'status' }),
      resolve: (task) => task.status,
    }),
    project: t.field({
      type: ProjectRef,
      extensions: tableField({ reference: 'project_id' }),
      // The composite foreign key guarantees the project exists in the same tenant.
      resolve: async (task, _args, ctx) => (await projectById(ctx).load(task.project_id))!,
    }),
    assignee: t.field({
      type: MemberRef,
      nullable: true,
      extensions: tableField({ reference: 'assignee_id' }),
      resolve: (task, _args, ctx) => (task.assignee_id ? memberById(ctx).load(task.assignee_id) : null),
    }),
    createdAt: t.field({
      type: 'DateTime',
      extensions: tableField({ column: 'created_at' }),
      resolve: (task) => task.created_at,
    }),
    updatedAt: t.field({
      type: 'DateTime',
      extensions: tableField({ column: 'updated_at' }),
      resolve: (task) => task.updated_at,
    }),
  }),
});

builder.queryField('task', (t) =>
  t.field({
    type: TaskRef,
    nullable: true,
    authScopes: AUTHENTICATED,
    args: { id: t.arg.id({ required: true }) },
    extensions: tableField({ byGlobalId: 'id' }),
    resolve: (_root, args, ctx) => {
      const id = rowIdOrNull(args.id, 'Task', ctx.tenant.id);
      return id ? taskById(ctx).load(id) : null;
    },
  }),
);

const CreateTaskInput = builder.inputType('CreateTaskInput', {
  fields: (t) => ({
    projectId: t.id({ required: true }),
    title: t.string({ required: true }),
    assigneeId: t.id(),
    status: t.field({ type: TaskStatusEnum }),
  }),
});

const UpdateTaskInput = builder.inputType('UpdateTaskInput', {
  fields: (t) => ({
    id: t.id({ required: true }),
    title: t.string(),
    status: t.field({ type: TaskStatusEnum }),
    assigneeId: t.id({ description: 'null unassigns; leave it out to keep the assignee.' }),
  }),
});

builder.mutationFields((t) => ({
  createTask: t.field({
    type: TaskRef,
    authScopes: MEMBER,
    args: { input: t.arg({ type: CreateTaskInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const row = await tasks.insertTask(ctx.db, ctx.tenant.id, {
        projectId: rowId(input.projectId, 'Project', ctx.tenant.id),
        title: requiredText(input.title, 'title'),
        assigneeId: input.assigneeId == null ? null : rowId(input.assigneeId, 'Member', ctx.tenant.id),
        status: input.status ?? 'TODO',
      });
      publishTaskChange(ctx, 'CREATED', row);
      return row;
    },
  }),
  updateTask: t.field({
    type: TaskRef,
    authScopes: MEMBER,
    args: { input: t.arg({ type: UpdateTaskInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const id = rowId(input.id, 'Task', ctx.tenant.id);
      const row = await tasks.updateTask(ctx.db, id, {
        title: optionalText(input.title, 'title'),
        status: input.status ?? null,
        assigneeId:
          input.assigneeId === undefined
            ? undefined
            : input.assigneeId === null
              ? null
              : rowId(input.assigneeId, 'Member', ctx.tenant.id),
      });
      if (!row) throw notFound('Task');
      publishTaskChange(ctx, 'UPDATED', row);
      return row;
    },
  }),
  deleteTask: t.boolean({
    authScopes: MEMBER,
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) => {
      const row = await tasks.deleteTask(ctx.db, rowId(args.id, 'Task', ctx.tenant.id));
      if (!row) throw notFound('Task');
      publishTaskChange(ctx, 'DELETED', row);
      return true;
    },
  }),
}));
