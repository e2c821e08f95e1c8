import type { Role } from '../auth/roles.js';
import { defineCommand, UsageError } from './command.js';

/** A span jose's setExpirationTime takes, in the plain forms the help shows. */
const TTL = /^[1-9][0-9]*(s|m|h|d)$/;

/** `tenantql token`: a user token for a tenant, or a service token for a virtual tenant (HS256). */
export default defineCommand({
  name: 'token',
  summary: 'sign a user JWT (JWT_SECRET) or a service JWT (SERVICE_JWT_SECRET)',
  usage: [
    '--tenant SUBDOMAIN_OR_ID --sub SUBJECT [--role viewer|member|admin] [--ttl 1h]',
    '--service VIRTUAL_ID [--sub SUBJECT] [--ttl 5m]',
  ],
  description: `Prints a JWT signed with the development or configured HS256 secret: a user token for a
tenant of TENANTS_FILE, or a service token for a virtual tenant (80-99). Tokens of a JWKS
(JWT_JWKS_URL, SERVICE_JWKS_URL) come from your identity provider instead.
`,
  options: {
    tenant: { type: 'string', value: 'SUBDOMAIN_OR_ID', help: 'the tenant of a user token' },
    sub: { type: 'string', value: 'SUBJECT', help: "the token's subject (a service token: service-<ID>)" },
    service: { type: 'string', value: 'VIRTUAL_ID', help: 'a virtual tenant (80-99): sign a service token' },
    role: {
      type: 'string',
      value: 'ROLE',
      help: "a user token's role in JWT_ROLES_CLAIM: viewer, member or admin (default: no claim, which is member)",
    },
    ttl: { type: 'string', value: 'DURATION', help: 'lifetime: 90s, 15m, 1h, 7d (default 1h; service 5m)' },
  },
  env: {
    JWT_SECRET: 'signs user tokens (unset outside production: the development secret)',
    SERVICE_JWT_SECRET: 'signs service tokens (likewise)',
    TENANTS_FILE: 'where tenants are looked up (default ./tenants.json)',
    JWT_ISSUER: 'the iss claim, if set; JWT_AUDIENCE the aud claim; JWT_TENANT_CLAIM its name',
    JWT_ROLES_CLAIM: 'where --role goes (default roles)',
    JWT_MAX_TTL_SECONDS: 'the longest --ttl of a user token (default 7 days)',
    JWT_TENANT_FROM: 'group: the user token also gets JWT_GROUPS_CLAIM [JWT_TENANT_GROUP_PREFIX + subdomain]',
  },
  async run({ values }, env) {
    if (values.ttl !== undefined && !TTL.test(values.ttl))
      throw new UsageError(`--ttl "${values.ttl}" is not a duration like 90s, 15m, 1h or 7d`);
    if (values.service === undefined && (!values.tenant || !values.sub))
      throw new UsageError('--tenant and --sub are required (or --service)');
    if (values.role !== undefined && values.service !== undefined)
      throw new UsageError('--role is for user tokens: a service token acts by its grants');
    const { signToken } = await import('../auth/verify.js');
    const { strategyClaims } = await import('../auth/tenant-claim.js');
    const { ROLES, roleClaims } = await import('../auth/roles.js');
    if (values.role !== undefined && !(ROLES as readonly string[]).includes(values.role))
      throw new UsageError(`--role "${values.role}" is not one of ${ROLES.join(', ')}`);
    const { readConfig } = await import('../config.js');
    const { readTenantsFile } = await import('../tenancy/tenants-file.js');
    const config = readConfig(env);
    if (!config.ok) {
      process.stderr.write(config.problems.map((problem) => `tenantql token: ${problem}\n`).join(''));
      return 1;
    }
    const { jwt, serviceJwt, tenantsFile } = config.config;
    const file = await readTenantsFile(tenantsFile);
    const tenants = file.ok ? file.config.tenants : [];

    if (values.service !== undefined) {
      const id = Number(values.service);
      const tenant = tenants.find((t) => t.id === id || t.subdomain === values.service);
      if (tenant?.kind !== 'virtual')
        return fail(`--service must name a virtual tenant (80-99) of ${tenantsFile}`);
      if (!serviceJwt.secret)
        return fail('SERVICE_JWT_SECRET is not set (JWKS-signed tokens come from your identity provider)');
      return print(
        await signToken({
          kind: 'service',
          secret: serviceJwt.secret,
          subject: values.sub ?? `service-${tenant.id}`,
          tenantClaim: jwt.tenantClaim,
          tenantId: tenant.id,
          ttl: values.ttl ?? '5m',
          issuer: jwt.issuer,
          audience: jwt.audience,
        }),
      );
    }

    const wanted = values.tenant!;
    const tenant = tenants.find((t) => t.subdomain === wanted || String(t.id) === wanted);
    const tenantId = tenant?.id ?? (/^[1-9][0-9]*$/.test(wanted) ? Number(wanted) : undefined);
    if (tenantId === undefined) return fail(`no tenant "${wanted}" in ${tenantsFile}`);
    // A group names a subdomain, which only the file knows.
    if (jwt.tenantStrategy.kind === 'group' && !tenant)
      return fail(`no tenant "${wanted}" in ${tenantsFile} (JWT_TENANT_FROM=group names it by subdomain)`);
    if (!jwt.secret)
      return fail('JWT_SECRET is not set (JWKS-signed tokens come from your identity provider)');
    if (values.ttl !== undefined && seconds(values.ttl) > jwt.maxTtlSeconds)
      return fail(
        `--ttl ${values.ttl} is longer than JWT_MAX_TTL_SECONDS (${jwt.maxTtlSeconds}): the server would refuse it`,
      );
    return print(
      await signToken({
        kind: 'user',
        secret: jwt.secret,
        subject: values.sub!,
        tenantClaim: jwt.tenantClaim,
        tenantId,
        ttl: values.ttl ?? '1h',
        issuer: jwt.issuer,
        audience: jwt.audience,
        claims: {
          ...(tenant && strategyClaims(jwt.tenantStrategy, tenant.subdomain)),
          ...roleClaims(jwt.rolesClaim, values.role as Role | undefined),
        },
      }),
    );
  },
});

/** A span TTL accepts, in seconds. */
function seconds(ttl: string): number {
  const unit = { s: 1, m: 60, h: 3600, d: 86_400 }[ttl.slice(-1) as 's' | 'm' | 'h' | 'd'];
  return Number(ttl.slice(0, -1)) * unit;
}

function print(value: string): number {
  process.stdout.write(`${value}\n`);
  return 0;
}

function fail(message: string): number {
  process.stderr.write(`tenantql token: ${message}\n`);
  return 1;
}
