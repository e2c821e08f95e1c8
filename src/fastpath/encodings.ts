import {
  GraphQLBoolean,
  GraphQLID,
  GraphQLInt,
  type GraphQLNamedOutputType,
  GraphQLString,
  isEnumType,
  isScalarType,
} from 'graphql';
import { quoteLiteral } from '../db/pool.js';
import { serializeDateTime } from '../graphql/date-time.js';
import type { Column } from './catalog.js';

/**
 * How a column's value is written as JSON text by PostgreSQL, byte for byte as the field's
 * type serialises the value pg hands the resolver (strings: to_json escapes exactly as
 * JSON.stringify does). Only pairs whose output is certain are listed; any other column type
 * or GraphQL type is not compiled.
 */
export type Encoding =
  | { readonly kind: 'string' | 'id' | 'int' | 'boolean' | 'dateTime' }
  /** GraphQL enum: internal value (the column's text) → the name written. */
  | { readonly kind: 'enum'; readonly names: ReadonlyMap<string, string> };

const TEXT = new Set(['text', 'varchar']);
const SMALL_INTS = new Set(['int2', 'int4']);
const ID_COLUMNS = new Set(['text', 'varchar', 'int2', 'int4', 'int8']);

/** The encoding of `column` as a field of `type`, or why there is none. */
export function encodingFor(
  type: GraphQLNamedOutputType,
  column: Column,
  isoDates: boolean,
): Encoding | { declined: string } {
  const declined = { declined: `${type.name} from a ${column.type} column` };
  if (isEnumType(type)) {
    if (!TEXT.has(column.type) && !column.isEnum) return declined;
    const names = new Map<string, string>();
    for (const value of type.getValues()) {
      if (typeof value.value !== 'string') return { declined: `enum ${type.name} has non-string values` };
      names.set(value.value, value.name);
    }
    return { kind: 'enum', names };
  }
  if (!isScalarType(type)) return declined;
  if (type === GraphQLString) return TEXT.has(column.type) ? { kind: 'string' } : declined;
  if (type === GraphQLID) return ID_COLUMNS.has(column.type) ? { kind: 'id' } : declined;
  if (type === GraphQLInt) return SMALL_INTS.has(column.type) ? { kind: 'int' } : declined;
  if (type === GraphQLBoolean) return column.type === 'bool' ? { kind: 'boolean' } : declined;
  // tenantql's own DateTime, recognised by its serialize (a product's scalar of that name is not it).
  if (type.serialize === serializeDateTime && column.type === 'timestamptz') {
    return isoDates ? { kind: 'dateTime' } : { declined: 'DateTime with a DateStyle other than ISO' };
  }
  return declined;
}

/** In the message of the error DECLINE raises (invalid input syntax for type integer). */
export const DECLINED_MARK = 'tenantql fast path declined';

/**
 * An expression that makes PostgreSQL abandon the statement, so the request is answered by the
 * resolvers instead (fastpath/run.ts): for a value the resolvers would not serialise (an enum
 * value the type lacks, a null in a non-null field, a timestamp V8 does not parse). Not a
 * constant, so the planner cannot evaluate it before a row needs it.
 */
export const DECLINE = `(${quoteLiteral(`${DECLINED_MARK}: `)} || current_setting('app.tenant_id'))::int::text`;

/** The JSON text of `column` (an SQL expression), NULL when the column is NULL (never, if `notNull`). */
export function jsonOf(column: string, encoding: Encoding, notNull: boolean): string {
  switch (encoding.kind) {
    case 'string':
      return `to_json(${column})::text`;
    case 'id':
      return `to_json(${column}::text)::text`;
    case 'int':
      return `${column}::text`;
    case 'boolean':
      return `CASE ${column} WHEN true THEN 'true' WHEN false THEN 'false' END`;
    case 'dateTime':
      // The DateTime scalar writes new Date(<PostgreSQL's text>).toISOString(): UTC, milliseconds
      // truncated. V8 parses that text for years 1000-9999 at offsets of whole minutes (local
      // mean time before 1900 has seconds in it): outside that the resolvers answer.
      return `CASE ${notNull ? '' : `WHEN ${column} IS NULL THEN NULL `}WHEN ${column} >= '1000-01-01 00:00:00+00'
        AND ${column} < '10000-01-01 00:00:00+00' AND extract(timezone FROM ${column})::int % 60 = 0
        THEN '"' || to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '"'
        ELSE ${DECLINE} END`;
    case 'enum': {
      const arms = [...encoding.names]
        .map(([value, name]) => `WHEN ${quoteLiteral(value)} THEN ${quoteLiteral(JSON.stringify(name))}`)
        .join(' ');
      const known = `CASE ${column}::text ${arms} ELSE ${DECLINE} END`;
      return notNull ? known : `CASE WHEN ${column} IS NULL THEN NULL ELSE ${known} END`;
    }
  }
}
