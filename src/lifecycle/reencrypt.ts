import pg from 'pg';
import type { DataKeys } from '../crypto/data-keys.js';
import { CorruptCiphertext, decryptField, isEncrypted } from '../crypto/envelope.js';
import { type EncryptedColumn, type EncryptionScope, FieldEncryption } from '../crypto/field-encryption.js';
import { silentLogger } from '../observability/logger.js';

/** What an import needs to carry encrypted fields (SPEC §12) from one tenant's key to another's. */
export interface ImportEncryption {
  /** The product's encrypted columns (Product.encryptedColumns). */
  columns: readonly EncryptedColumn[];
  /** The key store's keys: the exported tenant's must still be there. */
  dataKeys: DataKeys;
}

/** A refusal of the import (its caller wraps it as ImportRefused). */
export class EncryptedValuesUnreadable extends Error {}

const ident = pg.escapeIdentifier;
const BATCH = 1000;
const ENCRYPTED = '^tq[0-9]+:';

/**
 * The imported rows' encrypted values, in `client`'s open transaction. Into another tenant:
 * each value is decrypted with the exported tenant's key and encrypted again with the target's
 * (and its keyed hash made again), since tenant id and key are bound to every ciphertext. Into
 * the same tenant: each is checked to decrypt with the key here. Either way a value that does
 * not decrypt, or a source key the key store no longer has (a purged tenant), refuses the whole
 * import: rows nobody can read are not loaded.
 */
export async function reencryptImported(
  client: pg.Client,
  encryption: ImportEncryption,
  present: (table: string, column: string) => boolean,
  from: number,
  to: number,
  file: string,
): Promise<number> {
  let sourceKey: Buffer | undefined;
  // Into another tenant, values are encrypted as that tenant's requests encrypt them.
  const target =
    from === to ? undefined : { encryption: new FieldEncryption(to, encryption.dataKeys, silentLogger) };
  let changed = 0;
  for (const column of encryption.columns) {
    if (!present(column.table, column.column)) continue;
    if (column.hashColumn && !present(column.table, column.hashColumn)) continue;
    const { rows: found } = await client.query<{ ctid: string }>(
      `SELECT ctid::text FROM ${column.table} WHERE tenant_id = $1 AND ${ident(column.column)} ~ $2`,
      [to, ENCRYPTED],
    );
    if (found.length === 0) continue;
    sourceKey ??= await encryption.dataKeys.existingKeyFor(from);
    if (!sourceKey) {
      throw new EncryptedValuesUnreadable(
        `${file} holds values encrypted with the data key of tenant ${from}, which the key store no longer has (a purged tenant's data cannot be read); nothing was imported`,
      );
    }
    const ctids = found.map((r) => r.ctid);
    for (let i = 0; i < ctids.length; i += BATCH) {
      changed += await reencryptBatch(client, column, ctids.slice(i, i + BATCH), {
        from,
        to,
        sourceKey,
        target,
        file,
      });
    }
  }
  return changed;
}

async function reencryptBatch(
  client: pg.Client,
  column: EncryptedColumn,
  ctids: string[],
  keys: { from: number; to: number; sourceKey: Buffer; target: EncryptionScope | undefined; file: string },
): Promise<number> {
  const { rows } = await client.query<{ ctid: string; value: string }>(
    `SELECT ctid::text, ${ident(column.column)} AS value FROM ${column.table} WHERE ctid = ANY($1::tid[])`,
    [ctids],
  );
  const next: { ctid: string; value: string; hash: Buffer | null }[] = [];
  for (const row of rows) {
    if (!isEncrypted(row.value)) continue;
    let plaintext: string;
    try {
      plaintext = decryptField(keys.sourceKey, keys.from, column.name, row.value);
    } catch (error) {
      if (!(error instanceof CorruptCiphertext)) throw error;
      throw new EncryptedValuesUnreadable(
        `${keys.file}: a value of ${column.name} does not decrypt with the data key of tenant ${keys.from} here (another installation's key store, or a damaged file); nothing was imported`,
      );
    }
    if (!keys.target) continue; // the same tenant: checked, kept as it is
    next.push({
      ctid: row.ctid,
      value: await column.encrypt(keys.target, plaintext),
      hash: column.hashColumn ? await column.hash(keys.target, plaintext) : null,
    });
  }
  if (next.length === 0) return 0;
  const hashSet = column.hashColumn ? `, ${ident(column.hashColumn)} = v.hash` : '';
  const { rowCount } = await client.query(
    `UPDATE ${column.table} AS t SET ${ident(column.column)} = v.value${hashSet}
       FROM unnest($1::tid[], $2::text[], $3::bytea[]) AS v(ctid, value, hash)
      WHERE t.ctid = v.ctid AND t.tenant_id = $4`,
    [next.map((n) => n.ctid), next.map((n) => n.value), next.map((n) => n.hash), keys.to],
  );
  return rowCount ?? 0;
}
