import SchemaBuilder, { BasePlugin, type PothosOutputFieldConfig, type SchemaTypes } from '@pothos/core';
import type { GraphQLFieldResolver } from 'graphql';
import type { Context } from '../context.js';
import { insertAuditEntry } from '../db/queries/audit.js';
import { decodeGlobalId, encodeGlobalId } from './ids.js';

/**
 * Every Mutation field writes one audit_log row after its resolver succeeds, in the same
 * request transaction as its change: both commit or neither does. Done here, once, so a new
 * mutation is audited without remembering to. Scope-auth wraps outside this plugin (it is
 * listed first), so a refused call never reaches the log; it wrote nothing either.
 *
 * The entity id is, in order: `extensions.auditEntityId(result, args)` when a field declares
 * it; the global id of the returned object (the return type's name + its row id); the `id`
 * or `input.id` argument re-encoded canonically (deletes return Boolean); else null.
 */
export type AuditEntityId = (
  result: unknown,
  args: Record<string, unknown>,
  tenantId: number,
) => string | null;

declare global {
  export namespace PothosSchemaTypes {
    export interface Plugins<Types extends SchemaTypes> {
      audit: PothosAuditPlugin<Types>;
    }
  }
}

export class PothosAuditPlugin<Types extends SchemaTypes> extends BasePlugin<Types> {
  override wrapResolve(
    resolver: GraphQLFieldResolver<unknown, Types['Context'], object>,
    fieldConfig: PothosOutputFieldConfig<Types>,
  ): GraphQLFieldResolver<unknown, Types['Context'], object> {
    if (fieldConfig.kind !== 'Mutation') return resolver;
    const operation = fieldConfig.name;
    const declared = fieldConfig.extensions?.auditEntityId as AuditEntityId | undefined;
    // Decided at build time from Pothos' own config (graphql's type predicates would trip over
    // the ESM/CJS dual package: Pothos builds its types with the other copy).
    const objectType =
      fieldConfig.type.kind === 'Object'
        ? this.buildCache.getTypeConfig(fieldConfig.type.ref).name
        : undefined;
    return async (parent, args, context, info) => {
      const result = await resolver(parent, args, context, info);
      const ctx = context as Context;
      const principal = ctx.principal;
      await insertAuditEntry(ctx.db, {
        tenantId: ctx.tenant.id,
        subject: principal.kind === 'ANONYMOUS' ? null : principal.subject,
        kind: principal.kind,
        actorTenantId: principal.kind === 'SERVICE' ? principal.actorTenantId : null,
        operation,
        entityId: declared
          ? declared(result, args as Record<string, unknown>, ctx.tenant.id)
          : entityIdOf(result, args as Record<string, unknown>, objectType, ctx.tenant.id),
      });
      return result;
    };
  }
}

function entityIdOf(
  result: unknown,
  args: Record<string, unknown>,
  objectType: string | undefined,
  tenantId: number,
) {
  const rowId = (result as { id?: unknown } | null)?.id;
  if (objectType && (typeof rowId === 'string' || typeof rowId === 'number')) {
    return encodeGlobalId(objectType, tenantId, String(rowId));
  }
  const given = args.id ?? (args.input as { id?: unknown } | undefined)?.id;
  const decoded = given == null ? undefined : decodeGlobalId(String(given), tenantId);
  return decoded ? encodeGlobalId(decoded.typename, tenantId, decoded.id) : null;
}

const pluginName = 'audit';
SchemaBuilder.registerPlugin(pluginName, PothosAuditPlugin);
export default pluginName;
