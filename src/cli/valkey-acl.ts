import { parseArgs } from 'node:util';
import { aclLine, generatePassword, serverRules, tenantRules, tenantUser } from '../cache/acl.js';
import { runOnEveryNode } from '../cache/client.js';
import { readConfig } from '../config.js';
import { readTenantsFile } from '../tenancy/tenants-file.js';

const USAGE = 'usage: tenantql valkey-acl [--apply] [--tenant ID]... [--server-user NAME]';

/**
 * `tenantql valkey-acl`: one `ACL SETUSER tenant_<ID>` per regular and virtual tenant of the
 * tenants file, confined to `~{t<ID>}:*` and `&{t<ID>}:*`, each with a fresh password. The
 * lines go to stdout, once — the only place a password ever appears (no logger is used here).
 * `--apply` also runs them against VALKEY_URL (every node of VALKEY_CLUSTER_NODES).
 * `--tenant ID` limits the run to those tenants, so rotating one tenant leaves the others be;
 * `--server-user NAME` adds a user for the server itself (see docs/valkey.md).
 */
export default async function valkeyAcl(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let values: { apply?: boolean; tenant?: string[]; 'server-user'?: string };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        apply: { type: 'boolean' },
        tenant: { type: 'string', multiple: true },
        'server-user': { type: 'string' },
      },
      strict: true,
    }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const config = readConfig(env);
  if (!config.ok) {
    process.stderr.write(`${config.problems.join('\n')}\n`);
    return 1;
  }
  const file = await readTenantsFile(config.config.tenantsFile);
  if (!file.ok) {
    process.stderr.write(`${config.config.tenantsFile}:\n${file.problems.join('\n')}\n`);
    return 1;
  }
  const wanted = values.tenant?.map(Number);
  const tenants = file.config.tenants.filter(
    (t) => t.kind !== 'system' && (wanted === undefined || wanted.includes(t.id)),
  );
  const unknown = wanted?.filter((id) => !tenants.some((t) => t.id === id)) ?? [];
  if (unknown.length) {
    process.stderr.write(
      `no regular or virtual tenant ${unknown.join(', ')} in ${config.config.tenantsFile}\n`,
    );
    return 1;
  }

  const commands = tenants.map((tenant) => [
    'ACL',
    'SETUSER',
    tenantUser(tenant.id),
    ...tenantRules(tenant, generatePassword()),
  ]);
  const serverUser = values['server-user'];
  if (serverUser) {
    if (!/^[a-z][a-z0-9_-]{0,63}$/.test(serverUser)) {
      process.stderr.write(`--server-user: "${serverUser}" is not a plain user name\n`);
      return 2;
    }
    commands.push(['ACL', 'SETUSER', serverUser, ...serverRules(generatePassword())]);
  }

  if (values.apply) {
    try {
      const nodes = await runOnEveryNode(config.config, commands);
      process.stderr.write(`applied ${commands.length} users on ${nodes.join(', ')}\n`);
    } catch (error) {
      process.stderr.write(`valkey-acl: ${(error as Error).message}\n`);
      return 1;
    }
  }
  for (const [, , user, ...rules] of commands) process.stdout.write(`${aclLine(user!, rules)}\n`);
  return 0;
}
