import {
  AUTHENTICATED,
  builder,
  encodeGlobalId,
  MEMBER,
  Node,
  notFound,
  optionalText,
  pageFrom,
  registerNodeType,
  requiredText,
  rowId,
  rowIdOrNull,
  tableField,
  toConnection,
} from '../../index.js';
import * as projects from '../queries/projects.js';
import * as tasks from '../queries/tasks.js';
import { projectById, taskCount, taskPage } from './loaders.js';
import { ProjectConnection, ProjectRef, TaskConnection, TaskStatusEnum } from './refs.js';
import { publishTaskChange } from './task-events.js';

registerNodeType('Project', (ctx, id) => projectById(ctx).load(id), { table: 'app.projects' });

ProjectRef.implement({
  interfaces: [Node],
  fields: (t) => ({
    id: t.id({
      extensions: tableField({ globalId: true }),
      resolve: (p, _args, ctx) => encodeGlobalId('Project', ctx.tenant.id, p.id),
    }),
    name: t.exposeString('name'),
    createdAt: t.field({
      type: 'DateTime',
      extensions: tableField({ column: 'created_at' }),
      resolve: (p) => p.created_at,
    }),
    tasks: t.field({
      type: TaskConnection,
      args: { first: t.arg.int(), after: t.arg.string(), status: t.arg({ type: TaskStatusEnum }) },
      extensions: tableField({ connection: { references: 'project_id', filters: { status: 'status' } } }),
      resolve: async (p, args, ctx) => {
        const page = pageFrom(args);
        const status = args.status ?? null;
        const rows = await taskPage(ctx, { parent: 'project_id', page, status }).load(p.id);
        return toConnection(rows, page, () => taskCount(ctx, { parent: 'project_id', status }).load(p.id));
      },
    }),
  }),
});

builder.queryFields((t) => ({
  projects: t.field({
    type: ProjectConnection,
    authScopes: AUTHENTICATED,
    args: { first: t.arg.int(), after: t.arg.string() },
    extensions: tableField({ connection: {} }),
    resolve: async (_root, args, ctx) => {
      const page = pageFrom(args);
      const rows = await projects.listProjects(ctx.db, page);
      return toConnection(rows, page, () => projects.countProjects(ctx.db));
    },
  }),
  project: t.field({
    type: ProjectRef,
    nullable: true,
    authScopes: AUTHENTICATED,
    args: { id: t.arg.id({ required: true }) },
    extensions: tableField({ byGlobalId: 'id' }),
    resolve: (_root, args, ctx) => {
      const id = rowIdOrNull(args.id, 'Project', ctx.tenant.id);
      return id ? projectById(ctx).load(id) : null;
    },
  }),
}));

const CreateProjectInput = builder.inputType('CreateProjectInput', {
  fields: (t) => ({ name: t.string({ required: true }) }),
});
const UpdateProjectInput = builder.inputType('UpdateProjectInput', {
  fields: (t) => ({ id: t.id({ required: true }), name: t.string() }),
});

builder.mutationFields((t) => ({
  createProject: t.field({
    type: ProjectRef,
    authScopes: MEMBER,
    args: { input: t.arg({ type: CreateProjectInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      projects.insertProject(ctx.db, ctx.tenant.id, requiredText(input.name, 'name')),
  }),
  updateProject: t.field({
    type: ProjectRef,
    authScopes: MEMBER,
    args: { input: t.arg({ type: UpdateProjectInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const id = rowId(input.id, 'Project', ctx.tenant.id);
      const row = await projects.updateProject(ctx.db, id, optionalText(input.name, 'name'));
      if (!row) throw notFound('Project');
      return row;
    },
  }),
  deleteProject: t.boolean({
    authScopes: MEMBER,
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) => {
      const id = rowId(args.id, 'Project', ctx.tenant.id);
      const deletedTasks = await tasks.deleteTasksOfProject(ctx.db, id);
      if (!(await projects.deleteProject(ctx.db, id))) throw notFound('Project');
      for (const task of deletedTasks) publishTaskChange(ctx, 'DELETED', task);
      return true;
    },
  }),
}));
