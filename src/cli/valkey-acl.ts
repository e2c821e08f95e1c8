import { defineCommand, UsageError } from './command.js';

/**
 * `tenantql valkey-acl`: one `ACL SETUSER tenant_<ID>` per regular and virtual tenant of the
 * tenants file, confined to `~{t<ID>}:*` and `&{t<ID>}:*`, each with a fresh password. The
 * lines go to stdout, once — the only place a password ever appears (no logger is used here).
 * `--apply` also runs them against VALKEY_URL (every node of VALKEY_CLUSTER_NODES).
 * `--tenant ID` limits the run to those tenants, so rotating one tenant leaves the others be;
 * `--server-user NAME` adds a user for the server itself (see docs/valkey.md).
 */
export default defineCommand({
  name: 'valkey-acl',
  summary: 'print (--apply: run) ACL SETUSER per tenant, confined to {t<ID>}:',
  description: `Prints one ACL SETUSER line per regular and virtual tenant of TENANTS_FILE, each user
confined to its own keys and channels ({t<ID>}:*) with a fresh password. The passwords appear
only in this output. See docs/valkey.md.
`,
  options: {
    apply: { type: 'boolean', help: 'also run them on VALKEY_URL (every node of VALKEY_CLUSTER_NODES)' },
    tenant: { type: 'string', value: 'ID', multiple: true, help: 'only this tenant (repeatable)' },
    'server-user': { type: 'string', value: 'NAME', help: 'also a user for the server itself' },
  },
  env: {
    TENANTS_FILE: 'the tenants (default ./tenants.json)',
    VALKEY_URL: 'where --apply runs them (default redis://127.0.0.1:6379)',
    VALKEY_CLUSTER_NODES: 'host:port,...: --apply runs them on every node',
  },
  async run({ values }, env) {
    const serverUser = values['server-user'];
    if (serverUser !== undefined && !/^[a-z][a-z0-9_-]{0,63}$/.test(serverUser))
      throw new UsageError(`--server-user "${serverUser}" is not a plain user name`);
    const { aclLine, generatePassword, serverRules, tenantRules, tenantUser } = await import(
      '../cache/acl.js'
    );
    const { runOnEveryNode } = await import('../cache/client.js');
    const { readConfig } = await import('../config.js');
    const { readTenantsFile } = await import('../tenancy/tenants-file.js');
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
    if (serverUser) {
      commands.push(['ACL', 'SETUSER', serverUser, ...serverRules(generatePassword())]);
    }

    if (values.apply) {
      try {
        const nodes = await runOnEveryNode(config.config, commands);
        process.stderr.write(`applied ${commands.length} users on ${nodes.join(', ')}\n`);
      } catch (error) {
        process.stderr.write(`tenantql valkey-acl: ${(error as Error).message}\n`);
        return 1;
      }
    }
    for (const [, , user, ...rules] of commands) process.stdout.write(`${aclLine(user!, rules)}\n`);
    return 0;
  },
});
