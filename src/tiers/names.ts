/**
 * The names of a dedicated tenant's database and roles (SPEC §10), all derived from the main
 * database's name and the tenant id, so every command and the server agree without storing them.
 */
export interface DedicatedNames {
  /** `<NAME>_t<ID>`. */
  readonly database: string;
  /** LOGIN, DML through `app`: mutations. */
  readonly rw: string;
  /** LOGIN, SELECT only through `admin`: every request without a mutation. */
  readonly ro: string;
  /**
   * NOLOGIN groups that the migrations grant to, as they do in the main database
   * (`current_database() || '_owner'` etc.): the owner of everything inside, the DML group,
   * the SELECT group.
   */
  readonly owner: string;
  readonly app: string;
  readonly admin: string;
  /** NOLOGIN group of the roles that may connect (CONNECT, and `+group` in pg_hba.conf). */
  readonly connect: string;
}

/** PostgreSQL truncates identifiers at 63 bytes; the longest name here is `<db>_connect`. */
const MAX_IDENTIFIER = 63;

export function dedicatedNames(mainDatabase: string, tenantId: number): DedicatedNames {
  const database = `${mainDatabase}_t${Math.trunc(tenantId)}`;
  const names = {
    database,
    rw: `${database}_rw`,
    ro: `${database}_ro`,
    owner: `${database}_owner`,
    app: `${database}_app`,
    admin: `${database}_admin`,
    connect: `${database}_connect`,
  };
  if (Buffer.byteLength(names.connect) > MAX_IDENTIFIER) {
    throw new RangeError(
      `database name "${mainDatabase}" is too long for dedicated tenants: "${names.connect}" exceeds ${MAX_IDENTIFIER} bytes`,
    );
  }
  return names;
}

/** The database a connection URL names (its path), decoded. */
export function databaseOf(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
  if (!name) throw new TypeError('the connection URL names no database');
  return name;
}
