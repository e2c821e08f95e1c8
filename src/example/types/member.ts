import {
  AUTHENTICATED,
  builder,
  email,
  encodeGlobalId,
  Node,
  pageFrom,
  registerNodeType,
  registerUniqueMessage,
  requiredText,
  toConnection,
} from '../../index.js';
import * as members from '../queries/members.js';
import { memberById, taskCount, taskPage } from './loaders.js';
import { MemberConnection, MemberRef, TaskConnection } from './refs.js';

registerNodeType('Member', (ctx, id) => memberById(ctx).load(id), { table: 'app.members' });
registerUniqueMessage('members_tenant_id_lower_email_key', 'A member with this email already exists.');

MemberRef.implement({
  interfaces: [Node],
  fields: (t) => ({
    id: t.id({ resolve: (m, _args, ctx) => encodeGlobalId('Member', ctx.tenant.id, m.id) }),
    name: t.exposeString('name'),
    email: t.exposeString('email'),
    tasks: t.field({
      type: TaskConnection,
      args: { first: t.arg.int(), after: t.arg.string() },
      resolve: async (m, args, ctx) => {
        const page = pageFrom(args);
        const rows = await taskPage(ctx, { parent: 'assignee_id', page, status: null }).load(m.id);
        return toConnection(rows, page, () =>
          taskCount(ctx, { parent: 'assignee_id', status: null }).load(m.id),
        );
      },
    }),
  }),
});

builder.queryField('members', (t) =>
  t.field({
    type: MemberConnection,
    authScopes: AUTHENTICATED,
    args: { first: t.arg.int(), after: t.arg.string() },
    resolve: async (_root, args, ctx) => {
      const page = pageFrom(args);
      const rows = await members.listMembers(ctx.db, page);
      return toConnection(rows, page, () => members.countMembers(ctx.db));
    },
  }),
);

const CreateMemberInput = builder.inputType('CreateMemberInput', {
  fields: (t) => ({ name: t.string({ required: true }), email: t.string({ required: true }) }),
});

builder.mutationField('createMember', (t) =>
  t.field({
    type: MemberRef,
    authScopes: AUTHENTICATED,
    description: 'Emails are unique within a tenant (case-insensitive); another tenant may use the same one.',
    args: { input: t.arg({ type: CreateMemberInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      members.insertMember(ctx.db, ctx.tenant.id, requiredText(input.name, 'name'), email(input.email)),
  }),
);
