import type { Page } from '../db/queries/rows.js';
import { badUserInput } from '../errors.js';

/**
 * Global ids are base64url("<Type>:<tenant id>:<row id>"); cursors are base64url of the row id.
 * Row ids are numbered per tenant (migrations/004), so the same row id exists in many tenants:
 * the tenant in the id is what makes another tenant's id read exactly like an id that does not
 * exist. Decoding is strict, so a malformed id reads the same way.
 */
const ROW_ID = /^[1-9][0-9]{0,17}$/;
const TENANT_ID = /^[1-9][0-9]{0,9}$/;

export function encodeGlobalId(typename: string, tenantId: number, id: string): string {
  return Buffer.from(`${typename}:${tenantId}:${id}`).toString('base64url');
}

/** The parts of a well-formed global id, whichever tenant it names; else undefined. */
export function parseGlobalId(
  globalId: string,
): { typename: string; tenantId: number; id: string } | undefined {
  if (globalId.length > 64) return undefined;
  const [typename, tenant, id, ...rest] = Buffer.from(globalId, 'base64url').toString('utf8').split(':');
  if (!typename || tenant === undefined || id === undefined || rest.length > 0) return undefined;
  if (!TENANT_ID.test(tenant) || !ROW_ID.test(id)) return undefined;
  return { typename, tenantId: Number(tenant), id };
}

/** The row id when `globalId` names a row of `tenantId` (and of `typename`, if given), else undefined. */
export function decodeGlobalId(
  globalId: string,
  tenantId: number,
  typename?: string,
): { typename: string; id: string } | undefined {
  const parsed = parseGlobalId(globalId);
  if (!parsed || parsed.tenantId !== tenantId || (typename !== undefined && parsed.typename !== typename)) {
    return undefined;
  }
  return { typename: parsed.typename, id: parsed.id };
}

export function encodeCursor(id: string): string {
  return Buffer.from(id).toString('base64url');
}

const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

/** What a cursor encodes: the row id, within one tenant's rows. */
export type CursorKey<T> = (node: T) => string;
export const byRowId: CursorKey<{ id: string }> = (node) => node.id;

/**
 * Across tenants (the admin host) row ids repeat, so the key is `<tenant id>:<row id>`;
 * pageFrom(args, TENANT_ROW_KEY) accepts it.
 */
export const tenantRowKey: CursorKey<{ tenant_id: number; id: string }> = (row) =>
  `${row.tenant_id}:${row.id}`;
export const TENANT_ROW_KEY = /^[1-9][0-9]{0,9}:[1-9][0-9]{0,17}$/;

/** Validates `first`/`after` into a Page; bad values are the client's mistake. */
export function pageFrom(args: { first?: number | null; after?: string | null }, key = ROW_ID): Page {
  const limit = args.first ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(limit) || limit < 0 || limit > MAX_PAGE_SIZE) {
    throw badUserInput(`first must be between 0 and ${MAX_PAGE_SIZE}.`);
  }
  if (args.after == null) return { afterId: null, limit };
  const afterId = Buffer.from(args.after, 'base64url').toString('utf8');
  if (!key.test(afterId)) throw badUserInput('after is not a valid cursor.');
  return { afterId, limit };
}

export interface ConnectionShape<T> {
  /** The cursor of an edge is made when a client asks for it (see connection.ts). */
  edges: { node: T }[];
  pageInfo: {
    hasNextPage: boolean;
    hasPreviousPage: boolean;
    startCursor: string | null;
    endCursor: string | null;
  };
  /** Counted only when the client asks for totalCount. */
  totalCount: () => Promise<number>;
}

/** Rows fetched with `limit + 1` become a page; the extra row only says there is more. */
export function toConnection<T extends { id: string }>(
  rows: readonly T[],
  page: Page,
  totalCount: () => Promise<number>,
  key: CursorKey<T> = byRowId,
): ConnectionShape<T> {
  const nodes = rows.slice(0, page.limit);
  const first = nodes[0];
  const last = nodes.at(-1);
  return {
    edges: nodes.map((node) => ({ node })),
    pageInfo: {
      hasNextPage: rows.length > page.limit,
      hasPreviousPage: page.afterId !== null,
      startCursor: first ? encodeCursor(key(first)) : null,
      endCursor: last ? encodeCursor(key(last)) : null,
    },
    totalCount,
  };
}
