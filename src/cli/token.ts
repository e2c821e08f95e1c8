import { parseArgs } from 'node:util';
import { signToken } from '../auth/verify.js';
import { readConfig } from '../config.js';
import { readTenantsFile } from '../tenancy/tenants-file.js';

/** `tenantql token`: a user token for a tenant, or a service token for a virtual tenant (HS256). */
export default async function token(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      tenant: { type: 'string' },
      sub: { type: 'string' },
      service: { type: 'string' },
      ttl: { type: 'string' },
    },
  });
  const config = readConfig(env);
  if (!config.ok) {
    process.stderr.write(`${config.problems.join('\n')}\n`);
    return 1;
  }
  const { jwt, serviceJwt } = config.config;
  const file = await readTenantsFile(config.config.tenantsFile);
  const tenants = file.ok ? file.config.tenants : [];

  if (values.service !== undefined) {
    const id = Number(values.service);
    const tenant = tenants.find((t) => t.id === id || t.subdomain === values.service);
    if (tenant?.kind !== 'virtual')
      return fail(`--service must name a virtual tenant (80-99) of ${config.config.tenantsFile}`);
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

  if (!values.tenant || !values.sub)
    return fail('usage: tenantql token --tenant SUBDOMAIN_OR_ID --sub SUBJECT [--ttl 1h]');
  const tenant = tenants.find((t) => t.subdomain === values.tenant || String(t.id) === values.tenant);
  const tenantId = tenant?.id ?? (/^[1-9][0-9]*$/.test(values.tenant) ? Number(values.tenant) : undefined);
  if (tenantId === undefined) return fail(`no tenant "${values.tenant}" in ${config.config.tenantsFile}`);
  if (!jwt.secret) return fail('JWT_SECRET is not set (JWKS-signed tokens come from your identity provider)');
  return print(
    await signToken({
      kind: 'user',
      secret: jwt.secret,
      subject: values.sub,
      tenantClaim: jwt.tenantClaim,
      tenantId,
      ttl: values.ttl ?? '1h',
      issuer: jwt.issuer,
      audience: jwt.audience,
    }),
  );
}

function print(value: string): number {
  process.stdout.write(`${value}\n`);
  return 0;
}

function fail(message: string): number {
  process.stderr.write(`tenantql token: ${message}\n`);
  return 1;
}
