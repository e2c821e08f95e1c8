import { createHash } from 'node:crypto';
import { z } from 'zod';

/**
 * The only place that forms Valkey keys and channels (SPEC §8). Every tenant key starts with
 * `{t<ID>}:` — the braces are a cluster hash tag, so one tenant's keys share one slot and
 * multi-key operations (pipelines, MULTI) stay legal — and server-wide keys with `{sys}:`.
 * The ACL users of `tenantql valkey-acl` are confined to exactly these prefixes.
 *
 * No segment is ever taken raw from user input: user-derived parts go through hashSegment(),
 * so `*`, `?`, `[`, `:` or `{` in input can neither widen a pattern nor move a key to another
 * slot or tenant. The prefix always ends in `:`, so `{t2}:*` never matches `{t20}:…`.
 */

const MAX_TENANT_ID = 2_147_483_647;

function tenantTag(tenantId: number): string {
  if (!Number.isInteger(tenantId) || tenantId < 1 || tenantId > MAX_TENANT_ID) {
    throw new RangeError(`not a tenant id: ${tenantId}`);
  }
  return `{t${tenantId}}:`;
}

function positiveInt(value: number): string {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`not a positive integer: ${value}`);
  return String(value);
}

/** A user-derived segment, hashed: sha256, base64url (43 characters, no pattern syntax). */
export function hashSegment(input: string): string {
  return createHash('sha256').update(input).digest('base64url');
}

export const keys = {
  /** String counter: the tenant's response-cache generation, INCR'd on every committed mutation. */
  cacheGeneration: (tenantId: number) => `${tenantTag(tenantId)}cache:gen`,
  /** Hash: hashSegment(viewer, operation, variables) -> a `cacheEntry` value. */
  cacheEntries: (tenantId: number) => `${tenantTag(tenantId)}cache:entries`,
  /** String counter with a TTL: requests in the current window of `windowSeconds`. */
  rateLimit: (tenantId: number, windowSeconds: number) =>
    `${tenantTag(tenantId)}ratelimit:${positiveInt(windowSeconds)}`,
  /**
   * String counter with a TTL: failed credentials from one client (a hashed address) on the
   * tenant's host in the current window, limited apart from the tenant's own budget.
   */
  authFailures: (tenantId: number, clientHash: string, windowSeconds: number) =>
    `${tenantTag(tenantId)}authfail:${clientHash}:${positiveInt(windowSeconds)}`,
  /** Server-wide keys; none is written yet, the prefix is reserved for them. */
  system: (name: 'reserved') => `{sys}:${name}`,
} as const;

/** Hash fields besides the hashed ones. */
export const fields = {
  /** In `cacheEntries`: the random tag of the entry stored under `field` (see response-cache.ts). */
  cacheTag: (field: string) => `${field}:tag`,
} as const;

/** The pattern an ACL user of one tenant is confined to, for keys and for channels. */
export const tenantPattern = (tenantId: number) => `${tenantTag(tenantId)}*`;

const rowId = z.string().regex(/^[1-9][0-9]{0,17}$/);
const tenantId = z.number().int().min(1).max(MAX_TENANT_ID);

/**
 * Pub/sub topics by name, and the messages each carries: ids only, never row data (a
 * subscriber reads the rows in its own transaction, under RLS). tenantql's own are
 * `revocations` and `sessions`; a product declares its topics here by declaration merging and
 * registers how to check their messages with `defineTopic`:
 *
 *   declare module 'tenantql' { interface Topics { invoices: { invoiceId: string } } }
 *   defineTopic('invoices', (m) => (typeof m.invoiceId === 'string' ? { invoiceId: m.invoiceId } : undefined));
 */
export interface Topics {
  /** An API key of the tenant was revoked: its open subscription streams end, on every instance. */
  revocations: { apiKeyId: string };
  /**
   * revokeSessions: the user tokens of a subject (hashSegment of it: no identifier in Valkey)
   * issued up to `revokedAt` (ms since the epoch) are revoked. A listener reads the tenant's
   * revocations again from PostgreSQL, the authority (auth/session-revocations.ts).
   */
  sessions: { subjectHash: string; revokedAt: number };
}

export type Topic = keyof Topics & string;
export type TopicMessage<T extends Topic> = Topics[T];

/** A message as it arrived (its tenant already checked and removed) -> the message, or undefined. */
export type TopicCheck<T extends Topic> = (message: Record<string, unknown>) => TopicMessage<T> | undefined;

const TOPIC_NAME = /^[a-z][a-z0-9-]{0,31}$/;
const topicChecks = new Map<string, TopicCheck<Topic>>();

/**
 * Registers topic `name`: messages that `check` refuses (garbled, another shape) are dropped
 * on arrival. Once per name; call it where the topic's messages are defined.
 */
export function defineTopic<T extends Topic>(name: T, check: TopicCheck<T>): void {
  if (!TOPIC_NAME.test(name)) throw new Error(`topic name '${name}' is not of the form ${TOPIC_NAME}`);
  if (topicChecks.has(name)) throw new Error(`topic '${name}' is defined twice`);
  topicChecks.set(name, check as TopicCheck<Topic>);
}

export function isTopic(name: string): name is Topic {
  return topicChecks.has(name);
}

/** A check from a zod schema of the message. */
function zodCheck<T extends Topic>(schema: z.ZodType<TopicMessage<T>>): TopicCheck<T> {
  return (message) => {
    const result = schema.safeParse(message);
    return result.success ? result.data : undefined;
  };
}

defineTopic('revocations', zodCheck(z.object({ apiKeyId: rowId })));
defineTopic(
  'sessions',
  zodCheck(
    z.object({
      subjectHash: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
      revokedAt: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
    }),
  ),
);

const envelope = z.looseObject({ t: tenantId });

export const channels = {
  events: (tenantId: number, topic: Topic) => `${tenantTag(tenantId)}events:${topic}`,
  /** Server-wide: a tenant id whose placement changed (cache/placement-notices.ts). */
  placements: () => '{sys}:placements',
} as const;

/**
 * A cached response: `<tenant>:<generation>:<body>`, the body being the exact JSON the client
 * was sent (`{"data":…}`). It is read as bytes and its header without parsing the body, so a
 * hit is written to the socket as stored; the tenant in it is checked on every read.
 */
export interface CacheEntry {
  t: number;
  g: number;
  body: Buffer;
}
const COLON = 0x3a;
const CLOSING_BRACE = 0x7d;
const BODY_START = '{"data":{';

function parse<T>(schema: z.ZodType<T>, raw: string | null | undefined): T | undefined {
  if (typeof raw !== 'string' || raw === '') return undefined;
  try {
    const result = schema.safeParse(JSON.parse(raw));
    return result.success ? result.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Values are validated on read: a garbled value, one of another shape, or one that names
 * another tenant is a miss (undefined), never a crash and never another tenant's data.
 */
export const values = {
  encodeCacheEntry: (t: number, g: number, body: string): string => `${t}:${g}:${body}`,
  decodeCacheEntry(raw: Buffer | null | undefined, expectedTenant: number): CacheEntry | undefined {
    if (!raw) return undefined;
    const afterTenant = raw.indexOf(COLON);
    const afterGeneration = afterTenant > 0 ? raw.indexOf(COLON, afterTenant + 1) : -1;
    if (afterGeneration < 0 || afterGeneration > 30) return undefined;
    const tenant = raw.toString('latin1', 0, afterTenant);
    const generation = raw.toString('latin1', afterTenant + 1, afterGeneration);
    if (tenant !== String(expectedTenant) || !/^(0|[1-9][0-9]{0,14})$/.test(generation)) return undefined;
    const body = raw.subarray(afterGeneration + 1);
    const isResponse =
      body.toString('latin1', 0, BODY_START.length) === BODY_START && body.at(-1) === CLOSING_BRACE;
    return isResponse ? { t: expectedTenant, g: Number(generation), body } : undefined;
  },
  /** A counter as Valkey returns it; absent is 0, anything but a non-negative integer is undefined. */
  decodeCounter(raw: string | null | undefined): number | undefined {
    if (raw === null || raw === undefined) return 0;
    return /^[0-9]{1,15}$/.test(raw) ? Number(raw) : undefined;
  },
  encodeEvent: <T extends Topic>(tenant: number, _topic: T, message: TopicMessage<T>): string =>
    JSON.stringify({ ...message, t: tenant }),
  /** A message of `topic` for `expectedTenant`; one for another tenant, of another shape or of an undefined topic is undefined. */
  decodeEvent<T extends Topic>(
    raw: string | null | undefined,
    expectedTenant: number,
    topic: T,
  ): TopicMessage<T> | undefined {
    const check = topicChecks.get(topic) as TopicCheck<T> | undefined;
    const message = parse(envelope, raw);
    if (!check || message?.t !== expectedTenant) return undefined;
    const { t: _, ...rest } = message;
    return check(rest);
  },
} as const;

/** True for every key or channel this module can form; the keyspace tests assert it. */
export const KEY_PATTERN = /^\{(t[1-9][0-9]*|sys)\}:/;
