// Scenario P of `npm run bench` (bench/run.ts starts it): PostGraphile 4 over tenantql's own
// migrated schema `app`, as tenantql's runtime role (DATABASE_URL: NOBYPASSRLS, so row security
// applies), with a pool as large as tenantql's. Kept in its own package (graphql 15).
//
// Per request, as tenantql does before any SQL: the tenant from the Host header, looked up in
// the same tenants file (`<subdomain>.<baseDomain>` -> id; unknown -> 404); the user token
// verified (HS256 with JWT_SECRET, `exp`, and its `tid` must be the Host's tenant: 401 / 403
// otherwise). Then pgSettings gives PostGraphile the four settings of tenantql's transaction,
// with the same values: app.tenant_id, app.user_id (the token's subject), app.actor_tenant_id
// (empty: no peer server) and statement_timeout (the tenant's, else the file's default).
// PostGraphile sends them as `begin`, `select set_config(…, true), …`, the query, `commit`.
//
// Env: DATABASE_URL, TENANTS_FILE, JWT_SECRET, PORT, POOL (default 10). GET /healthz answers
// 200 once the schema is built.
const http = require('node:http');
const { createHmac, timingSafeEqual } = require('node:crypto');
const { readFileSync } = require('node:fs');
const { Pool } = require('pg');
const { postgraphile } = require('postgraphile');
const { PgMutationProceduresPlugin } = require('graphile-build-pg');

const file = JSON.parse(readFileSync(process.env.TENANTS_FILE, 'utf8'));
const suffix = `.${file.baseDomain}`;
const defaultTimeoutMs = file.defaults?.statementTimeoutMs ?? 5000;
const tenants = new Map(
  file.tenants
    .filter((t) => !t.disabled)
    .map((t) => [t.subdomain, { id: t.id, timeoutMs: String(t.statementTimeoutMs ?? defaultTimeoutMs) }]),
);
const key = Buffer.from(process.env.JWT_SECRET ?? '', 'utf8');
if (key.length === 0) throw new Error('JWT_SECRET is required');

/** Host -> tenant, or undefined (port and a trailing dot removed, lowercased). */
function tenantOf(host) {
  if (!host) return undefined;
  const name = host.toLowerCase().replace(/:\d+$/, '').replace(/\.$/, '');
  return name.endsWith(suffix) ? tenants.get(name.slice(0, -suffix.length)) : undefined;
}

const json = (value) => JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));

/** The claims of a valid HS256 `Bearer` token, or undefined. */
function verify(authorization) {
  if (!authorization?.startsWith('Bearer ')) return undefined;
  const parts = authorization.slice('Bearer '.length).split('.');
  if (parts.length !== 3) return undefined;
  const expected = createHmac('sha256', key).update(`${parts[0]}.${parts[1]}`).digest();
  const given = Buffer.from(parts[2], 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  try {
    if (json(parts[0]).alg !== 'HS256') return undefined;
    const claims = json(parts[1]);
    return typeof claims.exp === 'number' && claims.exp * 1000 > Date.now() ? claims : undefined;
  } catch {
    return undefined;
  }
}

const pool = new Pool({
  connectionString: process.env.DATABASE_URL,
  max: Number(process.env.POOL || 10),
  application_name: 'tenantql bench postgraphile',
});

const settings = Symbol('pgSettings');

const handler = postgraphile(pool, 'app', {
  graphiql: false,
  disableQueryLog: true,
  watchPg: false,
  ignoreRBAC: false,
  disableDefaultMutations: true,
  // The runtime role may EXECUTE app.sync_tenants and the like: expose no function as a mutation.
  skipPlugins: [PgMutationProceduresPlugin],
  setofFunctionsContainNulls: false,
  retryOnInitFail: false,
  showErrorStack: false,
  pgSettings: (req) => req[settings],
});

const fail = (res, status, code) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ errors: [{ message: code, extensions: { code } }] }));
};

const server = http.createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
    return;
  }
  const tenant = tenantOf(req.headers.host);
  if (tenant === undefined) return fail(res, 404, 'TENANT_NOT_FOUND');
  const claims = verify(req.headers.authorization);
  if (!claims) return fail(res, 401, 'UNAUTHENTICATED');
  if (claims.tid !== tenant.id) return fail(res, 403, 'TENANT_MISMATCH');
  // Without jwtSecret PostGraphile refuses any Authorization header: the token is checked above.
  delete req.headers.authorization;
  req[settings] = {
    'app.tenant_id': String(tenant.id),
    'app.user_id': String(claims.sub ?? ''),
    'app.actor_tenant_id': '',
    statement_timeout: tenant.timeoutMs,
  };
  handler(req, res);
});

const stop = () => {
  setTimeout(() => process.exit(0), 3000).unref();
  server.close(() => pool.end().then(() => process.exit(0)));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

handler.getGraphQLSchema().then(
  () => server.listen(Number(process.env.PORT || 4102), '127.0.0.1'),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
