import { GraphQLError } from 'graphql';

/** Every `extensions.code` the server emits. The README lists them with their HTTP statuses. */
export type ErrorCode =
  | 'BAD_HOST'
  | 'TENANT_NOT_FOUND'
  | 'TENANT_DISABLED'
  | 'ADMIN_DISABLED'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'TENANT_MISMATCH'
  | 'NOT_FOUND'
  | 'BAD_USER_INPUT'
  | 'TIMEOUT'
  | 'RATE_LIMITED'
  | 'OVERLOADED'
  | 'TENANT_READ_ONLY'
  | 'INTERNAL_SERVER_ERROR';

/**
 * An error that is safe to show the client: its message and code reach the response,
 * and `httpStatus` travels in `extensions.http.status` (yoga sets the status from it).
 * Anything that is not an AppError is masked as INTERNAL_SERVER_ERROR.
 */
export class AppError extends GraphQLError {
  readonly code: ErrorCode;
  readonly httpStatus: number;

  constructor(code: ErrorCode, message: string, httpStatus = 200, headers?: Record<string, string>) {
    super(message, {
      extensions: {
        code,
        ...(httpStatus !== 200 || headers
          ? { http: { status: httpStatus, ...(headers ? { headers } : {}) } }
          : {}),
      },
    });
    this.name = 'AppError';
    this.code = code;
    this.httpStatus = httpStatus;
  }
}

export const badHost = () => new AppError('BAD_HOST', 'The Host header is missing or malformed.', 400);
export const tenantNotFound = () =>
  new AppError('TENANT_NOT_FOUND', 'No tenant is served at this host.', 404);
export const tenantDisabled = () => new AppError('TENANT_DISABLED', 'This tenant is disabled.', 403);
export const adminDisabled = () =>
  new AppError('ADMIN_DISABLED', 'The system tenant is not configured (DATABASE_ADMIN_URL).', 503);
export const unauthenticated = (message = 'Authentication is required.', httpStatus = 401) =>
  new AppError('UNAUTHENTICATED', message, httpStatus);
export const forbidden = (message = 'Not allowed.') => new AppError('FORBIDDEN', message, 403);
export const tenantMismatch = () =>
  new AppError('TENANT_MISMATCH', 'The token belongs to another tenant.', 403);
export const notFound = (what = 'Object') => new AppError('NOT_FOUND', `${what} not found.`);
export const badUserInput = (message: string) => new AppError('BAD_USER_INPUT', message);
export const internalError = () => new AppError('INTERNAL_SERVER_ERROR', 'Unexpected error.');
export const timeout = () => new AppError('TIMEOUT', 'The operation took too long and was cancelled.');
export const rateLimited = (retryAfterSeconds: number, message = 'Too many requests for this tenant.') =>
  new AppError('RATE_LIMITED', message, 429, {
    'Retry-After': String(retryAfterSeconds),
  });

/**
 * The server sheds load: the request waited its whole deadline for a database connection.
 * 503, not 429: the caller is not over any limit of its own, and may retry.
 */
export const overloaded = (retryAfterSeconds = 1) =>
  new AppError('OVERLOADED', 'The server is busy; retry shortly.', 503, {
    'Retry-After': String(retryAfterSeconds),
  });

/**
 * The tenant's writes are paused while `tenantql tenants move` copies its rows (SPEC §11);
 * reads go on. 503 with Retry-After: the caller did nothing wrong and may retry shortly.
 */
export const tenantReadOnly = (retryAfterSeconds = 2) =>
  new AppError(
    'TENANT_READ_ONLY',
    "This tenant's writes are paused for a moment (its data is being moved); retry shortly.",
    503,
    {
      'Retry-After': String(retryAfterSeconds),
    },
  );

/** The body yoga would send for `error`, for responses ended before GraphQL runs. */
export function errorResponse(error: AppError): Response {
  const headers = new Headers({ 'content-type': 'application/json; charset=utf-8' });
  const extra = (error.extensions.http as { headers?: Record<string, string> } | undefined)?.headers;
  for (const [name, value] of Object.entries(extra ?? {})) headers.set(name, value);
  const body = { errors: [{ message: error.message, extensions: { code: error.code } }] };
  return new Response(JSON.stringify(body), { status: error.httpStatus, headers });
}

/**
 * yoga's maskError: AppErrors (and GraphQL's own validation errors) are shown; everything
 * else, from pg, ioredis or a bug, becomes INTERNAL_SERVER_ERROR and is logged in full.
 */
export function maskError(error: unknown, log: (error: unknown) => void): Error {
  const original = rootCause(error);
  if (original instanceof AppError) {
    return error instanceof GraphQLError && error !== original
      ? withExtensions(error, original.extensions)
      : original;
  }
  // Parse, validation and variable errors (graphql-js's, or a limit rule's) are the client's own input.
  if (isGraphQLError(original) && !original.originalError) return asBadUserInput(error as GraphQLError);
  log(original);
  const path = error instanceof GraphQLError ? error.path : undefined;
  return new GraphQLError('Unexpected error.', { path, extensions: { code: 'INTERNAL_SERVER_ERROR' } });
}

/** GraphQL and yoga may wrap an error more than once; the AppError (or the first non-GraphQL error) decides. */
function rootCause(error: unknown): unknown {
  let current = error;
  while (isGraphQLError(current) && !(current instanceof AppError) && current.originalError) {
    current = current.originalError;
  }
  return current;
}

/**
 * graphql ships CommonJS and ESM builds; a CommonJS dependency (GraphQL Armor) throws the other
 * build's GraphQLError, which `instanceof` does not recognise.
 */
function isGraphQLError(error: unknown): error is GraphQLError {
  return error instanceof GraphQLError || (error instanceof Error && error.name === 'GraphQLError');
}

/** The same error at the same place, with other extensions (and the original message). */
function withExtensions(error: GraphQLError, extensions: GraphQLError['extensions']): GraphQLError {
  return new GraphQLError(error.originalError?.message ?? error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    extensions,
  });
}

/**
 * The client's own mistake, shown with its message and the HTTP status yoga chose. Nothing else
 * of its extensions: yoga's invalid-JSON error carries `originalError`, JSON.parse's raw message
 * quoting the body. (yoga answers a `http.spec` error 400 rather than 200 only while some error
 * carries `originalError`, so when that goes, `spec: false` keeps the 400.)
 */
export function asBadUserInput(error: GraphQLError): GraphQLError {
  const { http, originalError } = error.extensions;
  if (!http) return withExtensions(error, { code: 'BAD_USER_INPUT' });
  return withExtensions(error, {
    code: 'BAD_USER_INPUT',
    http: originalError && http.spec ? { ...http, spec: false } : http,
  });
}
