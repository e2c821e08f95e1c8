/**
 * The DateTime scalar's output: ISO-8601 in UTC with milliseconds (`2026-11-23T12:36:03.123Z`).
 * Accepts a Date (values made in the process) or PostgreSQL's timestamptz text
 * (`2026-11-23 12:36:03.123456+00`), which the serving pool leaves unparsed (db/pool.ts): V8
 * parses that form, in any session time zone, and truncates to milliseconds as pg's parser did.
 */
export function serializeDateTime(value: Date | string): string {
  const date = typeof value === 'string' ? new Date(value) : value;
  if (Number.isNaN(date.getTime())) throw new TypeError(`DateTime cannot represent ${String(value)}`);
  return date.toISOString();
}

function parseDateTime(value: unknown): Date {
  const date = new Date(String(value));
  if (Number.isNaN(date.getTime())) throw new TypeError('DateTime must be an ISO-8601 string');
  return date;
}

/** The DateTime scalar, the same on the tenant and the admin schema. */
export const dateTimeScalar = {
  description: 'An ISO-8601 timestamp in UTC.',
  serialize: serializeDateTime,
  parseValue: parseDateTime,
};
