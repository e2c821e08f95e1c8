import {
  ADMIN,
  AUTHENTICATED,
  builder,
  defineEncryptedColumn,
  email,
  encodeGlobalId,
  Node,
  pageFrom,
  registerNodeType,
  registerUniqueMessage,
  requiredText,
  tableField,
  toConnection,
} from '../../index.js';
import * as members from '../queries/members.js';
import { memberById, taskCount, taskPage } from './loaders.js';
import { MemberConnection, MemberRef, TaskConnection } from './refs.js';

registerNodeType('Member', (ctx, id) => memberById(ctx).load(id), { table: 'app.members' });
registerUniqueMessage('members_tenant_id_email_hash_key', 'A member with this email already exists.');

/**
 * Stored encrypted with the tenant's key (SPEC §12); unique per tenant on a keyed hash of the
 * lower-cased address, as the plaintext index on lower(email) was before.
 */
export const memberEmail = defineEncryptedColumn({
  table: 'app.members',
  column: 'email',
  hash: { column: 'email_hash', normalise: (value) => value.normalize('NFC').toLowerCase() },
});

MemberRef.implement({
  interfaces: [Node],
  fields: (t) => ({
    id: t.id({
      extensions: tableField({ globalId: true }),
      resolve: (m, _args, ctx) => encodeGlobalId('Member', ctx.tenant.id, m.id),
    }),
    name: t.exposeString('name'),
    // Decrypted in Node: declares nothing, so a query that asks for it takes the resolvers.
    email: t.string({ resolve: (m, _args, ctx) => memberEmail.decrypt(ctx, m.email) }),
    tasks: t.field({
      type: TaskConnection,
      args: { first: t.arg.int(), after: t.arg.string() },
      extensions: tableField({ connection: { references: 'assignee_id' } }),
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
    extensions: tableField({ connection: {} }),
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
    authScopes: ADMIN,
    description: 'Emails are unique within a tenant (case-insensitive); another tenant may use the same one.',
    args: { input: t.arg({ type: CreateMemberInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const name = requiredText(input.name, 'name');
      const address = email(input.email);
      const [stored, hash] = await Promise.all([
        memberEmail.encrypt(ctx, address),
        memberEmail.hash(ctx, address),
      ]);
      return members.insertMember(ctx.db, ctx.tenant.id, { name, email: stored, emailHash: hash });
    },
  }),
);
