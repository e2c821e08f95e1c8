import type { Logger } from '../observability/logger.js';
import type { TenantSet } from '../tenancy/tenant-set.js';
import type { Isolation } from '../tenancy/tenants-file.js';
import { type Placements, placementProblems } from './placement.js';
import { readSecretsFile, type TenantCredentials, type TenantSecrets } from './secrets-file.js';

export interface TiersOptions {
  /** TENANT_SECRETS_FILE. */
  secretsFile: string;
  /** Reads the placements from the main database (through a role that sees every tenant). */
  readPlacements: () => Promise<Placements>;
  logger?: Logger;
}

/**
 * What the server knows of the tiers (SPEC §10): where each tenant's rows are, and the
 * dedicated tenants' credentials. Both are read again before every tenant set serves — at start
 * and on each reload, before the swap — so a file that disagrees with the database is refused
 * and the old set keeps serving.
 */
export class Tiers {
  readonly #options: TiersOptions;
  #placements: Placements = new Map();
  #adopted = false;
  #secrets: TenantSecrets = new Map();
  #refreshing: Promise<void> | undefined;
  #refreshAgain: Promise<void> | undefined;

  constructor(options: TiersOptions) {
    this.#options = options;
  }

  /**
   * Empty when `next` may serve. What was read is used from now on either way: it is where the
   * rows are, which a refused file does not change (a `tenants move` switched a tenant, and the
   * old set goes on serving it from its new place until the file agrees).
   */
  async check(next: TenantSet): Promise<string[]> {
    const read = await this.#read();
    if (!read.ok) return read.problems;
    this.#adopt(read.placements, read.secrets);
    return placementProblems(next, read.placements, read.secrets, this.#options.secretsFile);
  }

  /**
   * Reads placements and credentials again, between reloads: a move announced a switch, or a
   * write found the tenant's rows gone from where this instance sent it. Calls that arrive
   * while a read runs share one more read after it, so none is answered from older data.
   */
  refresh(): Promise<void> {
    if (this.#refreshing) {
      this.#refreshAgain ??= this.#refreshing.then(() => {
        this.#refreshAgain = undefined;
        return this.refresh();
      });
      return this.#refreshAgain;
    }
    this.#refreshing = this.#read()
      .then((read) => {
        if (read.ok) this.#adopt(read.placements, read.secrets);
        else this.#options.logger?.warn({ problems: read.problems }, 'tenant placements not read again');
      })
      .finally(() => {
        this.#refreshing = undefined;
      });
    return this.#refreshing;
  }

  async #read(): Promise<
    { ok: true; placements: Placements; secrets: TenantSecrets } | { ok: false; problems: string[] }
  > {
    const secrets = await readSecretsFile(this.#options.secretsFile);
    if (!secrets.ok) return secrets;
    try {
      return { ok: true, placements: await this.#options.readPlacements(), secrets: secrets.secrets };
    } catch (error) {
      return { ok: false, problems: [`the tenants table cannot be read: ${(error as Error).message}`] };
    }
  }

  #adopt(placements: Placements, secrets: TenantSecrets): void {
    // Both lists name exceptions only (absent: shared), so a move back to shared is a tenant
    // that left the list.
    const first = !this.#adopted;
    this.#adopted = true;
    for (const tenantId of new Set([...placements.keys(), ...this.#placements.keys()])) {
      const before = this.#placements.get(tenantId) ?? 'shared';
      const place = placements.get(tenantId) ?? 'shared';
      if (!first && place !== before && place !== 'purged') {
        this.#options.logger?.info(
          { tenantId, from: before, to: place },
          'tenant moved: now served from its new place',
        );
      }
    }
    this.#placements = placements;
    this.#secrets = secrets;
  }

  credentials(tenantId: number): TenantCredentials | undefined {
    return this.#secrets.get(tenantId);
  }

  /** Where the tenant's rows are; tenants the database does not know are shared. */
  isolationOf(tenantId: number): Isolation {
    return this.#placements.get(tenantId) === 'database' ? 'database' : 'shared';
  }
}
