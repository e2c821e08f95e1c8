import { createHash } from 'node:crypto';
import { quoteIdentifier, quoteLiteral } from '../db/pool.js';
import type { Page } from '../db/queries/rows.js';
import { DECLINE, jsonOf } from './encodings.js';
import type {
  ByIdEntry,
  ConnectionEntry,
  ConnectionPart,
  ContextEntry,
  EdgePart,
  ObjectEntry,
  ObjectPlan,
  PageInfoPart,
  Plan,
} from './plan.js';

/**
 * One request's statement: a single SELECT whose one text column is the whole response body,
 * `{"data":{…}}`, written by PostgreSQL exactly as yoga would write it (keys in response
 * order, no spaces: built by concatenation, since json_build_object and json_agg put spaces in
 * their output). Connections are keyset pages in id order (`LIMIT first + 1` when hasNextPage
 * is asked for), nested rows are correlated subqueries on the composite key
 * (tenant_id, <column>), the way PostGraphile nests its lateral subqueries.
 *
 * The request's values are parameters (`$1::int`), so the text is the same for every request
 * of a plan (up to which optional parts it has: a cursor, a filter, the type node(id) names)
 * and PostgreSQL can keep its plan (a prepared statement); or, for connections that must not
 * keep session state (PG_PREPARED_STATEMENTS=0), literals. Either way the statement travels
 * with BEGIN, the settings and COMMIT in one simple-protocol string (runAlone in
 * db/request-transaction.ts). Values are validated integers, validated row ids or strings
 * quoted by quoteLiteral; identifiers come from the code and the catalog and are quoted too.
 */

/** What a request supplies: its tenant and the argument values of each field site. */
export interface RequestValues {
  readonly tenantId: number;
  /** `first`/`after` of a connection, validated by pageFrom. */
  page(entry: ConnectionEntry): Page;
  /** The filter values of a connection (null: no filter), in `entry.filters` order. */
  filters(entry: ConnectionEntry): readonly (string | null)[];
  /** The row a byId field names, or null when its id names nothing this tenant can see. */
  target(entry: ByIdEntry): { typename: string; id: string } | null;
  /** The JSON text of a root field the request already holds (Query.tenant). */
  context(entry: ContextEntry): string;
  /** A field the request cannot have compiled (a branch of node(id) that is not): the resolvers answer. */
  decline(reason: string): never;
}

export interface Statement {
  readonly text: string;
  /** The values of $1, $2, … (text or NULL; the text casts each); empty with `inline`. */
  readonly params: readonly (string | null)[];
  /** Their types, for PREPARE. */
  readonly types: readonly string[];
  /** The body itself, when it needs no row (only __typename, ids that name nothing). */
  readonly constant: string | undefined;
  /** The name to prepare it under (not `inline`): `tq_` and 24 hex digits of the text's SHA-256. */
  readonly name: string | undefined;
}

/**
 * The statement of one request. Its text is made once per plan and *shape* (the choices the
 * request's values make: a cursor or none, a filter or none, the type node(id) names), then
 * kept: a later request with the same choices only reads its parameters. Each choice is
 * recorded as the Writer makes it, so a kept text is reused only when every one of them comes
 * out the same. With `inline`, values are literals and nothing is kept.
 */
export function statementFor(plan: Plan, values: RequestValues, inline = false): Statement {
  if (!inline) {
    const kept = templates.get(plan) ?? [];
    for (const template of kept) {
      if (template.choices.every(([choice, made]) => choice(values) === made)) {
        // A body that needs no row is written here; its parameters would go unused.
        if (template.constant) return { ...template, params: [], constant: template.constant(values) };
        return { ...template, params: template.getters.map((get) => get(values)), constant: undefined };
      }
    }
    const made = write(plan, values, new Params(values, false));
    if (kept.length >= SHAPES_PER_PLAN) kept.shift();
    kept.push(made.template);
    templates.set(plan, kept);
    return made.statement;
  }
  return write(plan, values, new Params(values, true)).statement;
}

/** A statement's text with what makes each request's parameters, and the choices it was made under. */
interface Template {
  readonly text: string;
  readonly name: string | undefined;
  readonly types: readonly string[];
  /** The body of a request, when it needs no row: literal text and what the request holds. */
  readonly constant: ((values: RequestValues) => string) | undefined;
  readonly getters: readonly Getter[];
  readonly choices: readonly (readonly [Choice, string | null])[];
}
type Getter = (values: RequestValues) => string;
type Choice = (values: RequestValues) => string | null;

const templates = new WeakMap<Plan, Template[]>();
/** Shapes kept per plan (a client paging with and without a cursor makes two). */
const SHAPES_PER_PLAN = 8;

function write(
  plan: Plan,
  values: RequestValues,
  params: Params,
): { statement: Statement; template: Template } {
  const writer = new Writer(values, params);
  const body = new Json();
  body.text('{"data":{');
  plan.root.forEach((entry, i) => {
    body.key(entry.key, i === 0);
    if (entry.kind === 'typename') body.text(JSON.stringify(entry.typename));
    else if (entry.kind === 'context') {
      const get = (v: RequestValues) => v.context(entry);
      body.held(params.add(get, 'text'), get);
    } else if (entry.kind === 'connection') body.sql(writer.connection(entry, undefined));
    else {
      const row = writer.byId(entry);
      if (row === null) body.text('null');
      else body.sql(row);
    }
  });
  body.text('}}');
  const text = `SELECT ${body.toSql()} AS body`;
  const template: Template = {
    text,
    name: params.inline ? undefined : `tq_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`,
    types: params.types,
    constant: body.constant(),
    getters: params.getters,
    choices: params.choices,
  };
  return {
    statement: { ...template, params: params.values, constant: template.constant?.(values) },
    template,
  };
}

/**
 * The request's values: `$n::type` (the value kept for EXECUTE, with how to read it from the
 * next request), or a literal when `inline`; and the choices the text depends on.
 */
class Params {
  readonly values: string[] = [];
  readonly types: string[] = [];
  readonly getters: Getter[] = [];
  readonly choices: [Choice, string | null][] = [];

  constructor(
    readonly request: RequestValues,
    readonly inline: boolean,
  ) {}

  add(get: Getter, type: 'int' | 'bigint' | 'text'): string {
    const value = get(this.request);
    if (this.inline) return `${quoteLiteral(value)}::${type}`;
    this.values.push(value);
    this.types.push(type);
    this.getters.push(get);
    return `$${this.values.length}::${type}`;
  }

  /** A value the text depends on (not only a parameter): a kept text needs the same one. */
  choose(choice: Choice): string | null {
    const made = choice(this.request);
    this.choices.push([choice, made]);
    return made;
  }
}

/**
 * JSON text built from literal pieces, SQL expressions (each non-null text) and pieces the
 * request holds (a parameter in SQL; read in Node when the text needs no SQL at all).
 */
class Json {
  readonly #parts: { literal: boolean; value: string; held?: Getter }[] = [];

  text(value: string): void {
    const last = this.#parts.at(-1);
    if (last?.literal) last.value += value;
    else this.#parts.push({ literal: true, value });
  }

  key(key: string, first: boolean): void {
    this.text(`${first ? '' : ','}${JSON.stringify(key)}:`);
  }

  sql(expression: string): void {
    this.#parts.push({ literal: false, value: expression });
  }

  /** A piece the request holds: `parameter` in SQL, `get` when no SQL is needed. */
  held(parameter: string, get: Getter): void {
    this.#parts.push({ literal: false, value: parameter, held: get });
  }

  /** The text of a request, when it has no SQL expression in it. */
  constant(): ((values: RequestValues) => string) | undefined {
    const parts = this.#parts;
    if (parts.some((p) => !p.literal && !p.held)) return undefined;
    return (values) => parts.map((p) => (p.held ? p.held(values) : p.value)).join('');
  }

  toSql(): string {
    return this.#parts.map((p) => (p.literal ? quoteLiteral(p.value) : `(${p.value})`)).join(' || ');
  }
}

/** A JSON object whose values are SQL expressions (each non-null text), keys in `entries` order. */
function jsonObject<E extends { readonly key: string }>(
  entries: readonly E[],
  value: (entry: E) => string,
): string {
  const json = new Json();
  json.text('{');
  entries.forEach((entry, i) => {
    json.key(entry.key, i === 0);
    json.sql(value(entry));
  });
  json.text('}');
  return json.toSql();
}

const column = (alias: string, name: string) => `${alias}.${quoteIdentifier(name)}`;
const table = (name: string) => name.split('.').map(quoteIdentifier).join('.');
/** base64url of text, as Buffer#toString('base64url') writes it (no padding). */
const base64url = (text: string) =>
  `rtrim(translate(encode(convert_to(${text}, 'UTF8'), 'base64'), E'+/\\n', '-_'), '=')`;
const orNull = (expression: string, nullable: boolean) =>
  `coalesce(${expression}, ${nullable ? "'null'" : DECLINE})`;

class Writer {
  #aliases = 0;

  constructor(
    readonly values: RequestValues,
    readonly params: Params,
  ) {}

  alias(): string {
    return `t${this.#aliases++}`;
  }

  /** The JSON object of the row `alias` (of `plan`'s table). */
  object(plan: ObjectPlan, alias: string): string {
    return jsonObject(plan.entries, (entry) => this.entry(entry, alias));
  }

  entry(entry: ObjectEntry, alias: string): string {
    switch (entry.kind) {
      case 'typename':
        return quoteLiteral(JSON.stringify(entry.typename));
      case 'column': {
        const value = jsonOf(column(alias, entry.column), entry.encoding, entry.notNull);
        return entry.notNull ? value : orNull(value, entry.nullable);
      }
      case 'globalId': {
        const prefix = this.params.add((v) => `${entry.typename}:${Math.trunc(v.tenantId)}:`, 'text');
        return `'"' || ${base64url(`${prefix} || ${column(alias, 'id')}::text`)} || '"'`;
      }
      case 'reference': {
        const target = this.alias();
        const row = `SELECT ${this.object(entry.target, target)} FROM ${table(entry.target.table.name)} ${target}
          WHERE ${target}.tenant_id = ${alias}.tenant_id AND ${target}.id = ${column(alias, entry.column)}`;
        const found = orNull(`(${row})`, entry.nullable);
        if (entry.notNull) return found;
        return `CASE WHEN ${column(alias, entry.column)} IS NULL THEN ${entry.nullable ? "'null'" : DECLINE} ELSE ${found} END`;
      }
      case 'connection':
        return this.connection(entry, alias);
    }
  }

  /** The row's JSON, or null when the answer is null without reading a row. */
  byId(entry: ByIdEntry): string | null {
    const typename = this.params.choose((v) => v.target(entry)?.typename ?? null);
    const missing = entry.nullable ? null : DECLINE;
    const plan = typename === null ? undefined : entry.branches.get(typename);
    if (!plan) return missing; // no row, or not a table-backed type of this field: node(id) answers null
    if ('declined' in plan) return this.values.decline(plan.declined);
    const alias = this.alias();
    const id = this.params.add((v) => v.target(entry)!.id, 'bigint');
    return orNull(
      `(SELECT ${this.object(plan, alias)} FROM ${table(plan.table.name)} ${alias} WHERE ${alias}.id = ${id})`,
      entry.nullable,
    );
  }

  /** A connection's JSON object; `parent` is the row alias it hangs from (undefined at the root). */
  connection(entry: ConnectionEntry, parent: string | undefined): string {
    const afterId = this.params.choose((v) => (v.page(entry).afterId === null ? null : 'after'));
    const source = this.alias();
    const conditions: string[] = [];
    if (parent !== undefined) {
      conditions.push(`${source}.tenant_id = ${parent}.tenant_id`);
      conditions.push(`${column(source, entry.references!)} = ${parent}.id`);
    }
    entry.filters.forEach(([, name], i) => {
      if (this.params.choose((v) => (v.filters(entry)[i] == null ? null : 'filter')) === null) return;
      conditions.push(
        `${column(source, name)}::text = ${this.params.add((v) => v.filters(entry)[i]!, 'text')}`,
      );
    });
    const from = `${table(entry.table.name)} ${source}`;
    const where = (extra: string[]) => {
      const all = [...conditions, ...extra];
      return all.length > 0 ? ` WHERE ${all.join(' AND ')}` : '';
    };

    // Only the aggregates read the page (edges, hasNextPage, the cursors): one row either way.
    const asks = (kinds: readonly PageInfoPart['kind'][]) =>
      entry.entries.some((p) => p.kind === 'pageInfo' && p.entries.some((i) => kinds.includes(i.kind)));
    const usesRows =
      entry.entries.some((p) => p.kind === 'edges') || asks(['hasNextPage', 'startCursor', 'endCursor']);
    const needsNext = asks(['hasNextPage']);
    const limit = usesRows ? this.params.add((v) => String(Math.trunc(v.page(entry).limit)), 'int') : '';
    const rows = this.alias();
    const onPage = needsNext ? ` FILTER (WHERE ${rows}.tenantql_rn <= ${limit})` : '';
    const parts = jsonObject(entry.entries, (part) =>
      this.connectionPart(part, { rows, onPage, limit, afterId, count: { from, where } }),
    );
    if (!usesRows) return `SELECT ${parts}`;

    const after =
      afterId === null ? [] : [`${source}.id > ${this.params.add((v) => v.page(entry).afterId!, 'bigint')}`];
    const select = entry.columns.map((c) => column(source, c)).join(', ');
    const fetched = needsNext
      ? this.params.add((v) => String(Math.trunc(v.page(entry).limit) + 1), 'int')
      : limit;
    const inner = `SELECT ${select} FROM ${from}${where(after)} ORDER BY ${source}.id LIMIT ${fetched}`;
    const numbered = needsNext
      ? `SELECT p.*, row_number() OVER (ORDER BY p.id) AS tenantql_rn FROM (${inner}) p`
      : inner;
    return `SELECT ${parts} FROM (${numbered}) ${rows}`;
  }

  connectionPart(
    part: ConnectionPart,
    page: {
      rows: string;
      onPage: string;
      limit: string;
      afterId: string | null;
      count: { from: string; where: (extra: string[]) => string };
    },
  ): string {
    switch (part.kind) {
      case 'typename':
        return quoteLiteral(JSON.stringify(part.typename));
      case 'totalCount': {
        // GraphQL's Int ends at 2^31 - 1; the resolvers would fail on more.
        const count = `SELECT count(*) AS n FROM ${page.count.from}${page.count.where([])}`;
        return `SELECT CASE WHEN c.n <= 2147483647 THEN c.n::text ELSE ${DECLINE} END FROM (${count}) c`;
      }
      case 'edges': {
        const edge = jsonObject(part.entries, (e) => this.edgePart(e, page.rows));
        return `coalesce('[' || string_agg(${edge}, ',' ORDER BY ${page.rows}.id)${page.onPage} || ']', '[]')`;
      }
      case 'pageInfo': {
        return jsonObject(part.entries, (p) => pageInfoPart(p, page));
      }
    }
  }

  edgePart(part: EdgePart, rows: string): string {
    switch (part.kind) {
      case 'typename':
        return quoteLiteral(JSON.stringify(part.typename));
      case 'cursor':
        return `'"' || ${base64url(`${rows}.id::text`)} || '"'`;
      case 'node':
        return this.object(part.plan, rows);
    }
  }
}

function pageInfoPart(
  part: PageInfoPart,
  page: { rows: string; onPage: string; limit: string; afterId: string | null },
) {
  const cursor = (of: string) =>
    `coalesce('"' || ${base64url(`(${of}(${page.rows}.id)${page.onPage})::text`)} || '"', 'null')`;
  switch (part.kind) {
    case 'typename':
      return quoteLiteral(JSON.stringify(part.typename));
    case 'hasNextPage':
      return `CASE WHEN count(*) > ${page.limit} THEN 'true' ELSE 'false' END`;
    case 'hasPreviousPage':
      return page.afterId === null ? "'false'" : "'true'";
    case 'startCursor':
      return cursor('min');
    case 'endCursor':
      return cursor('max');
  }
}
