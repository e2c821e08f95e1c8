import type { KeyStore } from './key-store.js';
import { masterKeyId, unwrapKey, type WrappedKey, wrapKey } from './key-wrap.js';

export interface RotationReport {
  /** Master key ids (public), from and to. */
  from: string;
  to: string;
  /** Keys walked. */
  keys: number;
  /** Re-wrapped from the current master key to the new one by this run. */
  rewrapped: number;
  /** Already under the new key: by an earlier, interrupted run, or made under it. */
  alreadyNew: number;
  /** Deleted (a purge) while the walk reached them. */
  gone: number;
}

/** A stored key that opens with neither master key: the walk stops there, nothing of it changed. */
export class RotationStopped extends Error {
  constructor(
    readonly tenantId: number,
    readonly masterId: string,
    readonly report: RotationReport,
  ) {
    super(
      `tenant ${tenantId}: its data key (master key id ${masterId}) opens with neither TENANT_MASTER_KEY (${report.from}) nor TENANT_MASTER_KEY_NEW (${report.to}); ${report.rewrapped} re-wrapped before it`,
    );
  }
}

/**
 * Re-wraps every data key in `store` from master key `from` to `to` (SPEC §12), in tenant id
 * order, `batchSize` at a time; the data keys themselves, and so every ciphertext, stay as they
 * are. Each key is swapped by compare-and-set, so a server making keys, a purge deleting one, or
 * a second run at once cannot be overwritten; a key already under `to` is skipped, so a run that
 * was interrupted is finished by running it again.
 */
export async function rotateMasterKey(options: {
  store: KeyStore;
  from: Buffer;
  to: Buffer;
  /** @default 500 */
  batchSize?: number;
  /** After each batch, with the keys walked so far. */
  onProgress?: (keys: number) => void;
}): Promise<RotationReport> {
  const { store, from, to } = options;
  const report: RotationReport = {
    from: masterKeyId(from),
    to: masterKeyId(to),
    keys: 0,
    rewrapped: 0,
    alreadyNew: 0,
    gone: 0,
  };
  const batchSize = options.batchSize ?? 500;
  let after = 0;
  for (;;) {
    const batch = await store.list(after, batchSize);
    for (const { tenantId, key } of batch) {
      report.keys += 1;
      report[await rotateOne(store, tenantId, key, from, to, report)] += 1;
      after = tenantId;
    }
    if (batch.length > 0) options.onProgress?.(report.keys);
    if (batch.length < batchSize) return report;
  }
}

async function rotateOne(
  store: KeyStore,
  tenantId: number,
  found: WrappedKey,
  from: Buffer,
  to: Buffer,
  report: RotationReport,
): Promise<'rewrapped' | 'alreadyNew' | 'gone'> {
  let key: WrappedKey | undefined = found;
  // Twice at most: a compare-and-set that lost means the key just changed; look once more.
  for (let attempt = 0; attempt < 2 && key; attempt += 1) {
    if (key.masterId === report.to && unwrapKey(to, tenantId, key.wrapped)) return 'alreadyNew';
    const dataKey = key.masterId === report.from ? unwrapKey(from, tenantId, key.wrapped) : undefined;
    if (!dataKey) throw new RotationStopped(tenantId, key.masterId, report);
    if (await store.replace(tenantId, key, wrapKey(to, tenantId, dataKey))) return 'rewrapped';
    key = await store.get(tenantId);
  }
  if (!key) return 'gone';
  throw new Error(`tenant ${tenantId}: its data key kept changing during the rotation; run it again`);
}
