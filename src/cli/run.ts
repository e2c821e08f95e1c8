import { type Command, type LoadProduct, table } from './command.js';
import dbCheck from './db-check.js';
import dbHba from './db-hba.js';
import dbSetup from './db-setup.js';
import keysEncryptExisting from './keys-encrypt-existing.js';
import keysRotateMaster from './keys-rotate-master.js';
import migrate from './migrate.js';
import schema from './schema.js';
import start from './start.js';
import tenantsCheck from './tenants-check.js';
import tenantsExport from './tenants-export.js';
import tenantsImport from './tenants-import.js';
import tenantsMove from './tenants-move.js';
import tenantsProvision from './tenants-provision.js';
import tenantsPurge from './tenants-purge.js';
import token from './token.js';
import valkeyAcl from './valkey-acl.js';

/** `tenantql <command>`: each command declares its usage and help (see command.ts). */
const COMMANDS: readonly Command[] = [
  start,
  migrate,
  dbSetup,
  dbCheck,
  dbHba,
  tenantsCheck,
  tenantsProvision,
  tenantsExport,
  tenantsImport,
  tenantsMove,
  tenantsPurge,
  keysRotateMaster,
  keysEncryptExisting,
  token,
  schema,
  valkeyAcl,
];

const HELP = `usage: tenantql <command> [options]

Commands:
${table(COMMANDS.map((command) => [command.spec.name, command.spec.summary]))}
Run \`tenantql <command> --help\` for a command's options and the environment it reads.
`;

/** Runs one command for `product`; resolves with the exit code, never rejects, never prints a stack. */
export async function runCommand(
  argv: string[],
  env: NodeJS.ProcessEnv,
  product: LoadProduct,
): Promise<number> {
  if (argv.length === 0 || isHelp(argv[0]) || (argv[0] === 'help' && argv.length === 1)) {
    process.stdout.write(HELP);
    return 0;
  }
  // `tenantql help <command>` is `tenantql <command> --help`.
  const [words, rest] = argv[0] === 'help' ? [argv.slice(1), ['--help']] : [argv, undefined];
  const command = COMMANDS.find((c) => c.spec.name.split(' ').every((part, i) => words[i] === part));
  if (!command) {
    // `db` is the first word of several commands, not one itself.
    const group = COMMANDS.some((c) => c.spec.name.startsWith(`${words[0]} `));
    if (group && isHelp(words[1])) {
      process.stdout.write(HELP);
      return 0;
    }
    const name = group && words[1] && !words[1].startsWith('-') ? `${words[0]} ${words[1]}` : words[0];
    process.stderr.write(`tenantql: unknown command '${name}'\n\n${HELP}`);
    return 2;
  }
  const { name } = command.spec;
  try {
    return await command(rest ?? words.slice(name.split(' ').length), env, product);
  } catch (error) {
    // The last resort: one line, not a stack (commands report the failures they expect).
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`tenantql ${name}: ${message.replaceAll('\n', ' ')}\n`);
    return 1;
  }
}

const isHelp = (arg: string | undefined) => arg === '--help' || arg === '-h';
