import { isIPv4, isIPv6 } from 'node:net';
import type { Tenant } from '../tenancy/tenants-file.js';
import { dedicatedNames } from './names.js';

export interface HbaOptions {
  /** NAME: the main (shared) database, as in `<NAME>_t<ID>`. */
  readonly mainDatabase: string;
  /** The tenants file's tenants; only those with `isolation: 'database'` get lines. */
  readonly tenants: readonly Pick<Tenant, 'id' | 'subdomain' | 'isolation'>[];
  /**
   * Where a dedicated database's own roles may connect from: `all`, `samehost`, `samenet` or a
   * CIDR. The reject lines always use `all`: nobody else gets in from anywhere.
   * @default 'all'
   */
  readonly address?: string;
  /** How the roles allowed in authenticate. @default 'scram-sha-256' */
  readonly method?: string;
}

/** `all`, `samehost`, `samenet`, or an IPv4/IPv6 address with a prefix length (`10.0.0.0/8`, `fd00::/8`). */
export function isHbaAddress(value: string): boolean {
  if (value === 'all' || value === 'samehost' || value === 'samenet') return true;
  const [ip = '', bits, ...rest] = value.split('/');
  if (bits === undefined || rest.length > 0 || !/^\d{1,3}$/.test(bits)) return false;
  // No zone id (`fe80::1%eth0`): what it means depends on the host reading the file.
  const max = isIPv4(ip) ? 32 : isIPv6(ip) && !ip.includes('%') ? 128 : -1;
  return Number(bits) <= max;
}

/** One line of pg_hba.conf, by column (comment lines are plain strings). */
type Rule = readonly [type: string, database: string, user: string, address: string, method: string];

/**
 * The text `tenantql db hba` prints (SPEC §10): pg_hba.conf lines that let each dedicated
 * database be reached only by the members of its NOLOGIN `<db>_connect` group (its `_rw` and
 * `_ro`, and the shared owner, which migrates it), and keep the tenant's login roles off the
 * shared database. A second wall behind CONNECT: it holds even if CONNECT were granted by mistake.
 */
export function hbaLines(options: HbaOptions): string {
  const { mainDatabase, address = 'all', method = 'scram-sha-256' } = options;
  if (!isHbaAddress(address)) {
    throw new TypeError(`address "${address}" is not all, samehost, samenet or a CIDR`);
  }
  if (!PLAIN.test(method)) throw new TypeError(`method "${method}" is not a pg_hba.conf method`);
  const dedicated = options.tenants
    .filter((tenant) => tenant.isolation === 'database')
    .toSorted((a, b) => a.id - b.id)
    .map((tenant) => ({ tenant, names: dedicatedNames(mainDatabase, tenant.id) }));
  if (dedicated.length === 0) {
    return '# No tenant of the tenants file has "isolation": "database": nothing to add to pg_hba.conf.\n';
  }

  const shared = nameToken(mainDatabase);
  const lines: (Rule | string)[] = [
    '',
    `# shared database ${mainDatabase}: no dedicated tenant's login roles`,
    // The roles, not `+<db>_connect`: the shared owner is a member of every such group, and
    // must keep reaching the shared database.
    ...dedicated.map(
      ({ names }): Rule => ['host', shared, `${nameToken(names.rw)},${nameToken(names.ro)}`, 'all', 'reject'],
    ),
  ];
  for (const { tenant, names } of dedicated) {
    const database = nameToken(names.database);
    lines.push(
      '',
      `# tenant ${tenant.id} (${tenant.subdomain})`,
      ['host', database, groupToken(names.connect), address, method],
      ['host', database, 'all', 'all', 'reject'],
    );
  }
  return `${header(mainDatabase)}${align([COLUMNS, ...lines])}`;
}

const COLUMNS: Rule = ['# TYPE', 'DATABASE', 'USER', 'ADDRESS', 'METHOD'];

function header(mainDatabase: string): string {
  return `# pg_hba.conf lines from \`tenantql db hba\`: each dedicated tenant database
# (${mainDatabase}_t<ID>) is reached only by the members of its NOLOGIN group
# ${mainDatabase}_t<ID>_connect, and those tenants' login roles do not reach ${mainDatabase}.
#
# pg_hba.conf is read top to bottom and the first matching line wins: put these lines
# before any broader host line (such as "host all all all scram-sha-256"), then run
#   SELECT pg_reload_conf();
# as a superuser. Print them again after provisioning a dedicated tenant and replace them.
#
# They cover TCP connections (host) only. A superuser is no member of these groups:
# \`tenantql tenants provision\` and \`tenants move\` reach the tenant databases as
# DATABASE_SUPERUSER_URL through a line of yours above these, or over a local socket.

`;
}

/** Each column as wide as its widest cell plus two, as a hand-written pg_hba.conf lines up. */
function align(lines: readonly (Rule | string)[]): string {
  const rules = lines.filter((line): line is Rule => typeof line !== 'string');
  const widths = COLUMNS.map((_, i) => Math.max(...rules.map((rule) => rule[i]!.length)) + 2);
  return lines
    .map((line) =>
      typeof line === 'string'
        ? `${line}\n`
        : `${line.map((cell, i) => (i < line.length - 1 ? cell.padEnd(widths[i]!) : cell)).join('')}\n`,
    )
    .join('');
}

// pg_hba.conf splits on blanks and commas, starts a comment at `#`, reads `+name` as a group,
// `@file` as an inclusion and `/...` as a regular expression; a quoted word loses all of that.
const PLAIN = /^[A-Za-z0-9_][A-Za-z0-9_$.-]*$/;
const KEYWORDS = new Set(['all', 'samehost', 'samenet', 'sameuser', 'samerole', 'samegroup', 'replication']);

/** A database or role name, quoted when it would otherwise read as something else. */
function nameToken(name: string): string {
  if (PLAIN.test(name) && !KEYWORDS.has(name)) return name;
  // Inside quotes pg_hba.conf has no escape: a double quote cannot be written at all.
  if (/["\r\n]/.test(name)) throw new RangeError(`"${name}" cannot be written in pg_hba.conf`);
  return `"${name}"`;
}

/** `+group`: members of the role, directly or not. A quoted `+"name"` is no group, so it must be plain. */
function groupToken(name: string): string {
  if (!PLAIN.test(name)) {
    throw new RangeError(`role "${name}" cannot be a group in pg_hba.conf: rename the database`);
  }
  return `+${name}`;
}
