import type { Tenant, WriteAsTenant } from '../index.js';
import { insertMember } from './queries/members.js';
import { countProjects, insertProject } from './queries/projects.js';
import { insertTask } from './queries/tasks.js';
import { memberEmail } from './types/member.js';

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
export async function loadDemoData(tenants: readonly Tenant[], write: WriteAsTenant): Promise<void> {
  for (const tenant of tenants) {
    const demo = DEMO[tenant.subdomain];
    if (!demo) continue;
    await write(tenant.id, async (db, scope) => {
      if ((await countProjects(db)) > 0) return;
      const members = [];
      for (const [name, email] of demo.members) {
        const [stored, emailHash] = await Promise.all([
          memberEmail.encrypt(scope, email),
          memberEmail.hash(scope, email),
        ]);
        members.push(await insertMember(db, tenant.id, { name, email: stored, emailHash }));
      }
      for (const [name, titles] of demo.projects) {
        const project = await insertProject(db, tenant.id, name);
        for (const [i, title] of titles.entries()) {
          const assigneeId = members[i % members.length]?.id ?? null;
          await insertTask(db, tenant.id, { projectId: project.id, title, assigneeId, status: 'TODO' });
        }
      }
    });
  }
}
