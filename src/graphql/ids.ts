import type { Page } from '../db/queries/rows.js';
import { badUserInput } from '../errors.js';

/**
 * Global ids are base64url("<Type>:<id>"); cursors are base64url of the row id. Decoding is
 * strict, so a malformed id reads exactly like an id that does not exist.
 */
const ROW_ID = /^[1-9][0-9]{0,17}$/;

export function encodeGlobalId(typename: string, id: string): string {
  return Buffer.from(`${typename}:${id}`).toString('base64url');
}

/** The row id when `globalId` names a `typename` row, else undefined. */
export function decodeGlobalId(
  globalId: string,
  typename?: string,
): { typename: string; id: string } | undefined {
  if (globalId.length > 64) return undefined;
  const decoded = Buffer.from(globalId, 'base64url').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 1) return undefined;
  const type = decoded.slice(0, colon);
  const id = decoded.slice(colon + 1);
  if (!ROW_ID.test(id) || (typename !== undefined && type !== typename)) return undefined;
  return { typename: type, id };
}

export function encodeCursor(id: string): string {
  return Buffer.from(id).toString('base64url');
}

const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

/** Validates `first`/`after` into a Page; bad values are the client's mistake. */
export function pageFrom(args: { first?: number | null; after?: string | null }): Page {
  const limit = args.first ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(limit) || limit < 0 || limit > MAX_PAGE_SIZE) {
    throw badUserInput(`first must be between 0 and ${MAX_PAGE_SIZE}.`);
  }
  if (args.after == null) return { afterId: null, limit };
  const afterId = Buffer.from(args.after, 'base64url').toString('utf8');
  if (!ROW_ID.test(afterId)) throw badUserInput('after is not a valid cursor.');
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
): ConnectionShape<T> {
  const nodes = rows.slice(0, page.limit);
  const first = nodes[0];
  const last = nodes.at(-1);
  return {
    edges: nodes.map((node) => ({ node })),
    pageInfo: {
      hasNextPage: rows.length > page.limit,
      hasPreviousPage: page.afterId !== null,
      startCursor: first ? encodeCursor(first.id) : null,
      endCursor: last ? encodeCursor(last.id) : null,
    },
    totalCount,
  };
}
