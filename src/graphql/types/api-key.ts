import { generateApiKey } from '../../auth/api-key.js';
import type { ApiKeyRow } from '../../db/queries/api-keys.js';
import * as apiKeys from '../../db/queries/api-keys.js';
import { notFound } from '../../errors.js';
import type { AuditEntityId } from '../audit-plugin.js';
import { ADMIN_USER, AUTHENTICATED, builder } from '../builder.js';
import { encodeGlobalId, pageFrom, toConnection } from '../ids.js';
import { requiredText, rowId } from '../inputs.js';
import { connectionOf } from './connection.js';

export const ApiKeyScopeEnum = builder.enumType('ApiKeyScope', {
  description:
    "What a key may do, fixed at its creation: READ only reads; WRITE also writes, as the tenant's admins may (not API keys or sessions).",
  values: ['READ', 'WRITE'] as const,
});

const ApiKey = builder.objectRef<ApiKeyRow>('ApiKey').implement({
  description: 'An API key of this tenant. The secret is shown once, by createApiKey, and never again.',
  fields: (t) => ({
    id: t.id({ resolve: (k, _args, ctx) => encodeGlobalId('ApiKey', ctx.tenant.id, k.id) }),
    name: t.exposeString('name'),
    prefix: t.exposeString('prefix', { description: 'The public part of the key (`tql_<prefix>_…`).' }),
    scope: t.field({ type: ApiKeyScopeEnum, resolve: (k) => k.scope }),
    createdAt: t.field({ type: 'DateTime', resolve: (k) => k.created_at }),
    revokedAt: t.field({ type: 'DateTime', nullable: true, resolve: (k) => k.revoked_at }),
  }),
});

const CreatedApiKey = builder.objectRef<{ apiKey: ApiKeyRow; secret: string }>('CreatedApiKey').implement({
  fields: (t) => ({
    apiKey: t.field({ type: ApiKey, resolve: (c) => c.apiKey }),
    secret: t.exposeString('secret', {
      description:
        'The whole key, for `Authorization: ApiKey <secret>`. Store it now: only its hash is kept.',
    }),
  }),
});

const ApiKeyConnection = connectionOf('ApiKey', ApiKey);

builder.queryField('apiKeys', (t) =>
  t.field({
    type: ApiKeyConnection,
    authScopes: AUTHENTICATED,
    args: { first: t.arg.int(), after: t.arg.string() },
    resolve: async (_root, args, ctx) => {
      const page = pageFrom(args);
      const rows = await apiKeys.listApiKeys(ctx.db, page);
      return toConnection(rows, page, () => apiKeys.countApiKeys(ctx.db));
    },
  }),
);

const CreateApiKeyInput = builder.inputType('CreateApiKeyInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    scope: t.field({ type: ApiKeyScopeEnum, required: true, defaultValue: 'WRITE' }),
  }),
});

const createdKeyId: AuditEntityId = (result, _args, tenantId) =>
  encodeGlobalId('ApiKey', tenantId, (result as { apiKey: ApiKeyRow }).apiKey.id);

builder.mutationFields((t) => ({
  createApiKey: t.field({
    type: CreatedApiKey,
    authScopes: ADMIN_USER,
    extensions: { auditEntityId: createdKeyId },
    args: { input: t.arg({ type: CreateApiKeyInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const key = generateApiKey();
      const row = await apiKeys.insertApiKey(ctx.db, {
        tenantId: ctx.tenant.id,
        name: requiredText(input.name, 'name'),
        prefix: key.prefix,
        secretHash: key.secretHash,
        scope: input.scope,
      });
      return { apiKey: row, secret: key.plaintext };
    },
  }),
  revokeApiKey: t.boolean({
    authScopes: ADMIN_USER,
    description:
      'Takes effect at once: the next request with the key is refused and its open subscriptions end. Revoking a revoked key is not an error.',
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) => {
      const id = rowId(args.id, 'ApiKey', ctx.tenant.id);
      if (!(await apiKeys.revokeApiKey(ctx.db, id))) throw notFound('ApiKey');
      // Every instance ends the key's open streams (auth/stream-credentials.ts); the id only, once committed.
      const tenantId = ctx.tenant.id;
      ctx.db.afterCommit(() => ctx.events.publish(tenantId, 'revocations', { apiKeyId: id }));
      return true;
    },
  }),
}));
