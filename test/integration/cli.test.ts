import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../src/db/embedded.js';
import { defaultTenants } from '../helpers/app.js';
import { runCli } from '../helpers/server-process.js';

/**
 * The real `tenantql` binary, in a temp working directory that holds what a command could
 * wrongly touch: a stale schema/ (which `schema` would rewrite) and a valid tenants file named
 * `--help` (which `tenants check --help` would read). No DATABASE_URL: a `start` that ran
 * would create .data/ and tenants.json here.
 */
let cwd: string;
let port: number;
let env: Record<string, string>;
const STALE_SDL = 'type Stale { field: String }\n';
const STACK_FRAME = /^ {4}at /m;

beforeAll(async () => {
  cwd = await mkdtemp(join(tmpdir(), 'tenantql-cli-'));
  await mkdir(join(cwd, 'schema'));
  await writeFile(join(cwd, 'schema', 'tenant.graphql'), STALE_SDL);
  await writeFile(join(cwd, '--help'), JSON.stringify(defaultTenants));
  port = await freePort();
  env = {
    HOME: cwd,
    PORT: String(port),
    VALKEY_URL: inject('valkeyUrl'),
    // A closed port: a command that connected would fail, not hang.
    DATABASE_OWNER_URL: 'postgres://owner:owner-secret@127.0.0.1:1/none',
  };
});
afterAll(async () => {
  await rm(cwd, { recursive: true, force: true });
});

/** Every file under `dir` with its content: what a command with no side effect leaves as it was. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const files: Record<string, string> = {};
  for (const entry of entries) {
    const path = join(entry.parentPath, entry.name);
    files[path.slice(dir.length)] = entry.isFile() ? await readFile(path, 'utf8') : '(dir)';
  }
  return files;
}

function portIsFree(value: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(value, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

const HELP: [args: string[], usage: RegExp][] = [
  [[], /^usage: tenantql <command>/],
  [['--help'], /^usage: tenantql <command>/],
  [['-h'], /^usage: tenantql <command>/],
  [['help'], /^usage: tenantql <command>/],
  [['help', 'token'], /^usage: tenantql token /],
  [['start', '--help'], /^usage: tenantql start/],
  [['start', '-h'], /^usage: tenantql start/],
  [['migrate', '--help'], /^usage: tenantql migrate/],
  [['db', 'setup', '--help'], /^usage: tenantql db setup /],
  [['db', 'check', '--help'], /^usage: tenantql db check/],
  [['tenants', 'check', '--help'], /^usage: tenantql tenants check /],
  [['token', '--help'], /^usage: tenantql token /],
  [['token', '--tenant', 'tenant1', '--help'], /^usage: tenantql token /],
  [['schema', '--help'], /^usage: tenantql schema /],
  [['valkey-acl', '--apply', '--help'], /^usage: tenantql valkey-acl /],
];

describe('tenantql --help', () => {
  it.each(HELP)('tenantql %j prints its help on stdout, exits 0 and touches nothing', async (args, usage) => {
    const before = await snapshot(cwd);
    const result = await runCli(args, { cwd, env });
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(usage);
    expect(result.stdout).toMatch(/--help|tenantql <command> --help/);
    expect(await snapshot(cwd)).toEqual(before);
    expect(await portIsFree(port)).toBe(true);
  });

  it('lists every command, each with a line saying what it does', async () => {
    const { stdout } = await runCli(['--help'], { cwd, env });
    for (const command of [
      'start',
      'migrate',
      'db setup',
      'db check',
      'tenants check',
      'token',
      'schema',
      'valkey-acl',
    ]) {
      expect(stdout).toMatch(new RegExp(`^ {2}${command} +\\S`, 'm'));
    }
  });

  it("a command's help names each option with a line of help, and the environment it reads", async () => {
    const { stdout } = await runCli(['db', 'setup', '--help'], { cwd, env });
    expect(stdout).toMatch(/^ {2}--superuser-url URL +\S/m);
    expect(stdout).toMatch(/^ {2}--database NAME +\S/m);
    expect(stdout).toMatch(/^ {2}-h, --help +\S/m);
    const token = await runCli(['token', '--help'], { cwd, env });
    expect(token.stdout).toMatch(/^ {2}JWT_SECRET +\S/m);
  });
});

describe('tenantql with a wrong command or option', () => {
  it('names an unknown command and lists the commands on stderr, exit 2', async () => {
    for (const args of [['bogus'], ['db', 'bogus'], ['db']]) {
      const result = await runCli(args, { cwd, env });
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      const [first, ...rest] = result.stderr.split('\n');
      expect(first).toBe(`tenantql: unknown command '${args.join(' ')}'`);
      expect(rest.join('\n')).toMatch(/^ {2}tenants check +\S/m);
    }
  });

  it.each([
    [['token', '--bogus'], /--bogus/, 'token'],
    [['schema', '--chek'], /--chek/, 'schema'],
    [['valkey-acl', '--apply=yes'], /--apply/, 'valkey-acl'],
    [['db', 'setup', '--superuser-url'], /--superuser-url/, 'db setup'],
    [['db', 'setup'], /--superuser-url is required/, 'db setup'],
    [['db', 'setup', '--superuser-url', 'postgres://u:secret-in-url@[bad'], /not a URL/, 'db setup'],
    [['tenants', 'check', 'a.json', 'b.json'], /b\.json/, 'tenants check'],
    [['migrate', 'now'], /now/, 'migrate'],
    [['token', '--tenant', 'tenant1'], /--sub/, 'token'],
  ])('tenantql %j: one line naming the problem, then the usage, exit 2', async (args, problem, name) => {
    const before = await snapshot(cwd);
    const result = await runCli(args, { cwd, env });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    const [first, ...rest] = result.stderr.trimEnd().split('\n');
    expect(first).toMatch(new RegExp(`^tenantql ${name}: `));
    expect(first).toMatch(problem);
    expect(rest[0]).toMatch(new RegExp(`^usage: tenantql ${name}`));
    expect(result.stderr).not.toMatch(STACK_FRAME);
    expect(result.stderr).not.toContain('secret-in-url');
    expect(await snapshot(cwd)).toEqual(before);
  });

  it('a --ttl that is not a duration is a usage error, not a stack', async () => {
    const result = await runCli(['token', '--tenant', '2', '--sub', 'u', '--ttl', 'soon'], { cwd, env });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^tenantql token: --ttl/);
    expect(result.stderr).not.toMatch(STACK_FRAME);
  });

  it('an unexpected failure is one line `tenantql <command>: <message>`, exit 1, no stack', async () => {
    // No schema/ folder to write to.
    const empty = await mkdtemp(join(tmpdir(), 'tenantql-cli-empty-'));
    try {
      const result = await runCli(['schema'], { cwd: empty, env });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^tenantql schema: .*schema\/tenant\.graphql.*\n$/);
      expect(result.stderr).not.toMatch(STACK_FRAME);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('a command that cannot connect says so in one line, with no password', async () => {
    const result = await runCli(['migrate'], { cwd, env });
    expect(result.code).toBe(1);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^tenantql migrate: .*127\.0\.0\.1:1/);
    expect(result.stderr).not.toContain('owner-secret');
    expect(result.stderr).not.toMatch(STACK_FRAME);
  });
});
