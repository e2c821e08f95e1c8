import { type GraphQLSchema, getArgumentValues, getVariableValues } from 'graphql';
import type { Context } from '../context.js';
import type { Page } from '../db/queries/rows.js';
import { decodeGlobalId, pageFrom } from '../graphql/ids.js';
import type { TableOf } from './compile.js';
import type { ByIdEntry, ConnectionEntry, ContextEntry, ContextField, FieldSite, Plan } from './plan.js';
import type { RequestValues } from './sql.js';

/** A request the compiled plan cannot answer exactly as the resolvers would: they answer it. */
export class RequestDeclined extends Error {}

/**
 * The argument values of one request, read as graphql reads them (variables coerced, then
 * each field's arguments from its first node) and checked as the resolvers check them. Any
 * value the resolvers would answer with an error (a bad `first` or cursor) declines the
 * request, so the error comes from them, unchanged.
 */
export function requestValues(
  schema: GraphQLSchema,
  plan: Plan,
  inputs: Readonly<Record<string, unknown>> | null | undefined,
  ctx: Context,
  tableOf: TableOf,
): RequestValues {
  const tenantId = ctx.tenant.id;
  const coerced = getVariableValues(schema, plan.variables, inputs ?? {}, { maxErrors: 1 });
  if (coerced.errors) throw new RequestDeclined('variables do not coerce');
  const variables = coerced.coerced;
  const read = new Map<FieldSite, Record<string, unknown>>();
  const argumentsOf = (site: FieldSite) => {
    let args = read.get(site);
    if (!args) {
      try {
        args = getArgumentValues(site.definition, site.node, variables);
      } catch {
        throw new RequestDeclined(`${site.key}: arguments`);
      }
      read.set(site, args);
    }
    return args;
  };
  return {
    tenantId,
    page(entry: ConnectionEntry): Page {
      const args = argumentsOf(entry.site) as { first?: number | null; after?: string | null };
      try {
        return pageFrom(args);
      } catch {
        throw new RequestDeclined(`${entry.key}: first or after`);
      }
    },
    filters(entry: ConnectionEntry) {
      const args = argumentsOf(entry.site);
      return entry.filters.map(([argument]) => {
        const value = args[argument];
        return value == null ? null : String(value);
      });
    },
    target(entry: ByIdEntry) {
      const id = argumentsOf(entry.site)[entry.argument];
      if (id == null) throw new RequestDeclined(`${entry.key}: no id`);
      const target = decodeGlobalId(String(id), tenantId, entry.objectType);
      // A type node(id) loads but the field cannot return: the resolvers answer with their error.
      if (target && !entry.branches.has(target.typename) && tableOf(target.typename) !== undefined) {
        throw new RequestDeclined(`${entry.key}: ${target.typename} is not a possible type`);
      }
      return target ?? null;
    },
    context: (entry: ContextEntry) => contextJson(entry, ctx),
    decline(reason: string): never {
      throw new RequestDeclined(reason);
    },
  };
}

/**
 * The JSON text of a `fromContext` root field, as graphql-jit writes it: each property
 * through its scalar's serialize, then JSON.stringify. A value jit would answer with an error
 * (a null in a non-null field, one serialize refuses) declines the request.
 */
export function contextJson(entry: ContextEntry, ctx: Context): string {
  const value = entry.read(ctx) as Record<string, unknown> | null | undefined;
  if (value == null) return nullOr(entry.nullable, entry.key);
  const parts = entry.entries.map((field) => `${JSON.stringify(field.key)}:${leafJson(field, value)}`);
  return `{${parts.join(',')}}`;
}

function leafJson(field: ContextField, value: Record<string, unknown>): string {
  if (field.kind === 'typename') return JSON.stringify(field.typename);
  const raw = value[field.property];
  if (raw == null) return nullOr(field.nullable, field.key);
  let serialized: unknown;
  try {
    serialized = field.type.serialize(raw);
  } catch {
    throw new RequestDeclined(`${field.key}: ${field.type.name} refuses the value`);
  }
  return serialized == null ? nullOr(field.nullable, field.key) : JSON.stringify(serialized);
}

function nullOr(nullable: boolean, key: string): string {
  if (nullable) return 'null';
  throw new RequestDeclined(`${key}: null in a non-null field`);
}
