import type { Pool } from '../db/pool.js';
import { insertMember } from '../db/queries/members.js';
import { countProjects, insertProject } from '../db/queries/projects.js';
import { insertTask } from '../db/queries/tasks.js';
import { RequestTransaction } from '../db/request-transaction.js';
import type { Logger } from '../logger.js';
import type { TenantSet } from '../tenancy/tenant-set.js';

const DEMO: Record<string, { members: [string, string][]; projects: [string, string[]][] }> = {
  tenant1: {
    members: [
      ['Ada Lovelace', 'ada@tenant1.test'],
      ['Grace Hopper', 'grace@tenant1.test'],
    ],
    projects: [
      ['Analytical Engine', ['Design the mill', 'Punch the cards', 'Write note G']],
      ['Compiler', ['Parse FLOW-MATIC', 'Find the moth']],
    ],
  },
  tenant2: {
    members: [['Alan Turing', 'alan@tenant2.test']],
    projects: [['Bombe', ['Wire the drums', 'Test against Enigma']]],
  },
};

/**
 * Loads a little demo data for `npm start`, once: a tenant that already has projects is left
 * alone. It writes through the same RLS-scoped transaction as a request would.
 */
export async function loadDemoData(pool: Pool, tenants: TenantSet, logger: Logger): Promise<void> {
  for (const tenant of tenants.all()) {
    const demo = DEMO[tenant.subdomain];
    if (!demo) continue;
    const settings = {
      tenantId: tenant.id,
      userId: 'demo',
      actorTenantId: undefined,
      statementTimeoutMs: 10_000,
    };
    const tx = new RequestTransaction(pool, settings, logger);
    tx.allowWrites();
    try {
      if ((await countProjects(tx)) > 0) {
        await tx.finish(true);
        continue;
      }
      const members = [];
      for (const [name, email] of demo.members) members.push(await insertMember(tx, tenant.id, name, email));
      for (const [name, titles] of demo.projects) {
        const project = await insertProject(tx, tenant.id, name);
        for (const [i, title] of titles.entries()) {
          const assigneeId = members[i % members.length]?.id ?? null;
          await insertTask(tx, tenant.id, { projectId: project.id, title, assigneeId, status: 'TODO' });
        }
      }
      await tx.finish(true);
      logger.info({ tenant: tenant.subdomain }, 'demo data loaded');
    } catch (error) {
      await tx.finish(false);
      throw error;
    }
  }
}
