import * as members from '../../db/queries/members.js';
import { AUTHENTICATED, builder } from '../builder.js';
import { encodeGlobalId, pageFrom, toConnection } from '../ids.js';
import { email, requiredText } from '../inputs.js';
import { Node, registerNodeType } from './node.js';
import { MemberConnection, MemberRef, TaskConnection } from './refs.js';

registerNodeType('Member', (ctx, id) => ctx.loaders.member.load(id));

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
        const rows = await ctx.loaders.taskPage('assignee_id', page, null).load(m.id);
        return toConnection(rows, page, () => ctx.loaders.taskCount('assignee_id', null).load(m.id));
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
