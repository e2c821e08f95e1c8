import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestApp } from '../helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await TestApp.start();
});
afterAll(() => t.close());

describe('smoke', () => {
  it('answers tenant and viewer anonymously', async () => {
    const res = await t.gql('tenant1.localhost', '{ tenant { id subdomain name } viewer { kind tenantId } }');
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({
      tenant: { id: 2, subdomain: 'tenant1', name: 'Tenant One' },
      viewer: { kind: 'ANONYMOUS', tenantId: 2 },
    });
  });

  it('creates and lists projects with tasks', async () => {
    const token = await t.token(2);
    const created = await t.gql(
      'tenant1.localhost',
      'mutation { createProject(input: { name: "P1" }) { id name } }',
      { token },
    );
    expect(created.body.errors).toBeUndefined();
    const projectId = created.body.data!.createProject.id;
    const task = await t.gql(
      'tenant1.localhost',
      'mutation($p: ID!) { createTask(input: { projectId: $p, title: "T1" }) { id title status project { name } } }',
      { token, variables: { p: projectId } },
    );
    expect(task.body).toEqual({
      data: { createTask: expect.objectContaining({ title: 'T1', status: 'TODO', project: { name: 'P1' } }) },
    });
    const list = await t.gql(
      'tenant1.localhost',
      '{ projects(first: 20) { totalCount edges { node { name tasks(first: 10) { totalCount edges { node { title status assignee { name } } } } } } } }',
      { token },
    );
    expect(list.body.errors).toBeUndefined();
    expect(list.body.data!.projects.totalCount).toBe(1);
    const other = await t.gql('tenant2.localhost', '{ projects { totalCount } }', {
      token: await t.token(3),
    });
    expect(other.body.data!.projects.totalCount).toBe(0);
  });
});
