import type { TenantSet } from '../tenancy/tenant-set.js';
import type { Isolation } from '../tenancy/tenants-file.js';
import { type Placements, placementProblems } from './placement.js';
import { readSecretsFile, type TenantCredentials, type TenantSecrets } from './secrets-file.js';

export interface TiersOptions {
  /** TENANT_SECRETS_FILE. */
  secretsFile: string;
  /** Reads the placements from the main database (through a role that sees every tenant). */
  readPlacements: () => Promise<Placements>;
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
  #secrets: TenantSecrets = new Map();

  constructor(options: TiersOptions) {
    this.#options = options;
  }

  /** Empty when `next` may serve; then what was read is what the server uses from now on. */
  async check(next: TenantSet): Promise<string[]> {
    const { secretsFile } = this.#options;
    const secrets = await readSecretsFile(secretsFile);
    if (!secrets.ok) return secrets.problems;
    let placements: Placements;
    try {
      placements = await this.#options.readPlacements();
    } catch (error) {
      return [`the tenants table cannot be read: ${(error as Error).message}`];
    }
    const problems = placementProblems(next, placements, secrets.secrets, secretsFile);
    if (problems.length === 0) {
      this.#placements = placements;
      this.#secrets = secrets.secrets;
    }
    return problems;
  }

  credentials(tenantId: number): TenantCredentials | undefined {
    return this.#secrets.get(tenantId);
  }

  /** Where the tenant's rows are; tenants the database does not know are shared. */
  isolationOf(tenantId: number): Isolation {
    return this.#placements.get(tenantId) ?? 'shared';
  }
}
