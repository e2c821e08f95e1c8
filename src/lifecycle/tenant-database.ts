import pg from 'pg';
import { connectionUrl } from '../db/setup.js';
import { databaseOf, dedicatedNames } from '../tiers/names.js';

/**
 * A lifecycle command's connections: the main database as the owner (DATABASE_OWNER_URL), and
 * where the tenant's rows are — the same connection for a shared tenant, or its own database
 * (SPEC §10) as its NOLOGIN owner, which the main owner is a member of. `work` gets both;
 * records of the command (app.lifecycle_events) go to `main`.
 */
export async function withTenantDatabase<T>(
  options: { ownerUrl: string; tenantId: number; applicationName: string },
  /** Reads the tenant's row on `main` and refuses what the command cannot take; its placement. */
  placementOf: (main: pg.Client) => Promise<'shared' | 'database'>,
  work: (rows: pg.Client, main: pg.Client) => Promise<T>,
): Promise<T> {
  const connect = async (url: string) => {
    const client = new pg.Client({ connectionString: url, application_name: options.applicationName });
    await client.connect();
    return client;
  };
  const main = await connect(options.ownerUrl);
  try {
    if ((await placementOf(main)) !== 'database') return await work(main, main);
    const names = dedicatedNames(databaseOf(options.ownerUrl), options.tenantId);
    const own = await connect(connectionUrl(options.ownerUrl, names.database));
    try {
      await own.query(`SET ROLE ${pg.escapeIdentifier(names.owner)}`);
      return await work(own, main);
    } finally {
      await own.end();
    }
  } finally {
    await main.end();
  }
}
