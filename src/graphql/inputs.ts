import { badUserInput, notFound } from '../errors.js';
import { decodeGlobalId } from './ids.js';

/** Input checks shared by the mutations: each failure is BAD_USER_INPUT with a clear message. */
export function requiredText(value: string, field: string, max = 200): string {
  const text = value.trim();
  if (text === '') throw badUserInput(`${field} must not be empty.`);
  if (text.length > max) throw badUserInput(`${field} must be at most ${max} characters.`);
  return text;
}

export function optionalText(value: string | null | undefined, field: string, max = 200): string | null {
  return value == null ? null : requiredText(value, field, max);
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function email(value: string): string {
  const text = value.trim();
  if (text.length > 254 || !EMAIL.test(text)) throw badUserInput('email is not a valid address.');
  return text;
}

/** A global id of `typename` in `tenantId`; anything else is reported exactly like a missing row. */
export function rowId(globalId: string | number, typename: string, tenantId: number): string {
  const decoded = decodeGlobalId(String(globalId), tenantId, typename);
  if (!decoded) throw notFound(typename);
  return decoded.id;
}

/** For lookups that answer null (like a missing row) rather than NOT_FOUND. */
export function rowIdOrNull(globalId: string | number, typename: string, tenantId: number): string | null {
  return decodeGlobalId(String(globalId), tenantId, typename)?.id ?? null;
}
