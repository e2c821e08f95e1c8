/** `tenantql <command>`: each command is one module that takes argv and env and returns an exit code. */
type Command = (argv: string[], env: NodeJS.ProcessEnv) => Promise<number>;

const commands: Record<string, () => Promise<Command>> = {
  start: async () => (await import('./start.js')).default,
  migrate: async () => (await import('./migrate.js')).default,
  'db setup': async () => (await import('./db-setup.js')).default,
  'db check': async () => (await import('./db-check.js')).default,
  'tenants check': async () => (await import('./tenants-check.js')).default,
  token: async () => (await import('./token.js')).default,
  schema: async () => (await import('./schema.js')).default,
  'valkey-acl': async () => (await import('./valkey-acl.js')).default,
};

const USAGE = `usage: tenantql <command>

  start                                   run the server
  migrate                                 apply migrations/ as DATABASE_OWNER_URL
  db setup --superuser-url URL [--database NAME]
  db check                                verify RLS on every tenant table (as DATABASE_URL)
  tenants check [FILE]                    validate a tenants file
  token --tenant SUBDOMAIN_OR_ID --sub SUBJECT [--ttl 1h]
  token --service VIRTUAL_ID [--ttl 5m]
  schema [--check]                        print the SDL to schema/ (or fail on drift)
  valkey-acl [--apply] [--tenant ID]... [--server-user NAME]
                                          ACL SETUSER per tenant, confined to {t<ID>}:
`;

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const two = argv.slice(0, 2).join(' ');
  const name = commands[two] ? two : argv[0];
  const load = name ? commands[name] : undefined;
  if (!load) {
    process.stderr.write(USAGE);
    return argv.length === 0 || argv[0] === '--help' ? 0 : 2;
  }
  const rest = argv.slice(name!.split(' ').length);
  return (await load())(rest, env);
}
