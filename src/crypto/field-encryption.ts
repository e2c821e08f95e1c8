import { internalError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { DataKeys } from './data-keys.js';
import { CorruptCiphertext, decryptField, encryptField, isEncrypted, keyedHash } from './envelope.js';

/**
 * One tenant's field encryption (SPEC §12), as a request (`ctx.encryption`), the seed or a
 * command sees it: the tenant's data key is fetched once per instance and never leaves it.
 * `column` names what a value belongs to (`schema.table.column` by convention) and is bound to
 * the ciphertext with the tenant id: a value moved to another tenant or column does not open.
 */
export class FieldEncryption {
  #key: Promise<Buffer> | undefined;
  #decrypted = false;

  constructor(
    readonly tenantId: number,
    private readonly dataKeys: DataKeys,
    private readonly logger: Logger,
  ) {}

  async encrypt(column: string, plaintext: string): Promise<string> {
    return encryptField(await this.#dataKey(), this.tenantId, column, plaintext);
  }

  /**
   * The plaintext of a stored value: at once when the key (or this very value) is at hand, else
   * once the key is loaded. A value without the envelope's prefix was stored before its column
   * was encrypted (`tenantql keys encrypt-existing` encrypts those) and is returned as it is. One
   * that does not decrypt is logged and answers INTERNAL_SERVER_ERROR, no detail.
   */
  decrypt(column: string, stored: string): string | Promise<string> {
    if (!isEncrypted(stored)) return stored;
    const known = this.dataKeys.plaintextOf(this.tenantId, column, stored);
    if (known !== undefined) {
      this.#decrypted = true;
      return known;
    }
    const key = this.dataKeys.cachedKey(this.tenantId);
    return key ? this.#open(key, column, stored) : this.#dataKey().then((k) => this.#open(k, column, stored));
  }

  #open(key: Buffer, column: string, stored: string): string {
    let plaintext: string;
    try {
      plaintext = decryptField(key, this.tenantId, column, stored);
    } catch (error) {
      if (!(error instanceof CorruptCiphertext)) throw error;
      this.logger.error(
        { tenantId: this.tenantId, column },
        'a stored value does not decrypt: corrupt or copied',
      );
      throw internalError();
    }
    this.#decrypted = true;
    this.dataKeys.rememberPlaintext(this.tenantId, column, stored, plaintext);
    return plaintext;
  }

  /**
   * Some value was decrypted here: the response cache keeps no such response, or Valkey (and
   * its snapshots) would hold the plaintext the database does not.
   */
  get decryptedAny(): boolean {
    return this.#decrypted;
  }

  /** The keyed hash of `value` for `purpose` (a column's equality or uniqueness). */
  async hash(purpose: string, value: string): Promise<Buffer> {
    return keyedHash(await this.#dataKey(), purpose, value);
  }

  #dataKey(): Promise<Buffer> {
    this.#key ??= this.dataKeys.keyFor(this.tenantId);
    return this.#key;
  }
}

/** Anything that carries a tenant's FieldEncryption: a request's context, the seed's scope. */
export interface EncryptionScope {
  readonly encryption: FieldEncryption;
}

export interface EncryptedColumnOptions {
  /** The table, schema-qualified: `app.members`. */
  table: string;
  /** The text column holding the ciphertext. */
  column: string;
  /**
   * A `bytea` column holding a keyed hash of the normalised value, for equality and a unique
   * index `(tenant_id, <hash column>)`: the ciphertext itself is different every time.
   */
  hash?: { column: string; normalise?: (value: string) => string };
}

/**
 * A product's encrypted column (the library's helper, SPEC §12): values encrypted with the
 * tenant's data key before they reach PostgreSQL. List it in the product's `encryptedColumns`
 * so `tenants import` re-encrypts it into another tenant and `keys encrypt-existing` finds it.
 */
export interface EncryptedColumn {
  readonly table: string;
  readonly column: string;
  readonly hashColumn: string | undefined;
  /** `table.column`: bound to each ciphertext as associated data, and the hash's purpose. */
  readonly name: string;
  encrypt(scope: EncryptionScope, plaintext: string): Promise<string>;
  /** The plaintext; at once (no promise) when the tenant's key is already in this process. */
  decrypt(scope: EncryptionScope, stored: string): string | Promise<string>;
  /** The hash of the normalised value; throws if the column was declared without `hash`. */
  hash(scope: EncryptionScope, plaintext: string): Promise<Buffer>;
}

const QUALIFIED = /^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$/;
const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

export function defineEncryptedColumn(options: EncryptedColumnOptions): EncryptedColumn {
  const { table, column, hash } = options;
  if (!QUALIFIED.test(table)) throw new TypeError(`encrypted column: table "${table}" is not schema.table`);
  for (const name of [column, ...(hash ? [hash.column] : [])])
    if (!IDENTIFIER.test(name)) throw new TypeError(`encrypted column: "${name}" is not a column name`);
  const name = `${table}.${column}`;
  const normalise = hash?.normalise ?? ((value: string) => value);
  return {
    table,
    column,
    hashColumn: hash?.column,
    name,
    encrypt: (scope, plaintext) => scope.encryption.encrypt(name, plaintext),
    decrypt: (scope, stored) => scope.encryption.decrypt(name, stored),
    hash: (scope, plaintext) => {
      if (!hash) throw new TypeError(`${name} was declared without a hash column`);
      return scope.encryption.hash(name, normalise(plaintext));
    },
  };
}
