import DataLoader from 'dataloader';
import type { Db } from '../db/queries/rows.js';

/**
 * The DataLoaders of one request, made on first use. They live on the request's context and
 * die with it, so nothing they cache can reach another request or tenant. Loaders are
 * declared next to the type that uses them, with `defineLoader` or `defineLoaderFamily`.
 */
export class RequestLoaders {
  readonly #loaders = new Map<symbol, Map<string, unknown>>();

  constructor(readonly db: Db) {}

  /** The request's loader `variant` of `family`, made by `create` the first time. */
  get<L>(family: symbol, variant: string, create: (db: Db) => L): L {
    let variants = this.#loaders.get(family);
    if (!variants) {
      variants = new Map();
      this.#loaders.set(family, variants);
    }
    let loader = variants.get(variant) as L | undefined;
    if (loader === undefined) {
      loader = create(this.db);
      variants.set(variant, loader);
    }
    return loader;
  }
}

/** What a loader needs of a context. */
export interface WithLoaders {
  readonly loaders: RequestLoaders;
}

/**
 * A loader that takes parameters (a page, a filter): one DataLoader per request and per
 * distinct `variantOf(params)`, since a batch shares its parameters.
 */
export function defineLoaderFamily<P, K, V>(
  variantOf: (params: P) => string,
  create: (db: Db, params: P) => DataLoader<K, V>,
): (ctx: WithLoaders, params: P) => DataLoader<K, V> {
  const family = Symbol('loader family');
  return (ctx, params) => ctx.loaders.get(family, variantOf(params), (db) => create(db, params));
}

/**
 * Rows by id, batched: `batch` gets every id asked for in one tick and returns the rows it
 * found (a missing row, or another tenant's, is simply absent and loads as null).
 */
export function defineLoader<R>(
  batch: (db: Db, ids: readonly string[]) => Promise<readonly R[]>,
  idOf: (row: R) => string,
): (ctx: WithLoaders) => DataLoader<string, R | null> {
  const load = defineLoaderFamily<void, string, R | null>(
    () => '',
    (db) => new DataLoader(async (ids) => byKeys(ids, await batch(db, ids), idOf)),
  );
  return (ctx) => load(ctx);
}

/** Orders batch results like the keys; a key without a row gets null. */
export function byKeys<R>(
  keys: readonly string[],
  rows: readonly R[],
  keyOf: (row: R) => string,
): (R | null)[] {
  const found = new Map(rows.map((row) => [keyOf(row), row]));
  return keys.map((key) => found.get(key) ?? null);
}

/** Groups batch results by key, in the keys' order; a key without rows gets []. */
export function groupByKeys<R>(
  keys: readonly string[],
  rows: readonly R[],
  keyOf: (row: R) => string,
): R[][] {
  const groups = new Map<string, R[]>(keys.map((key) => [key, []]));
  for (const row of rows) groups.get(keyOf(row))?.push(row);
  return keys.map((key) => groups.get(key) ?? []);
}
