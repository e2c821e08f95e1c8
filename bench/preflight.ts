import { readFile } from 'node:fs/promises';
import { hostOf, QUERIES } from './fixtures.js';
import { type Child, post } from './processes.js';
import type { Scenario, Servers } from './scenarios.js';
import { FIRST_TENANT } from './seed.js';
import type { Bench } from './setup.js';
import { checkNested, postgraphileAsNested, responseCacheServes } from './verify.js';

/**
 * One checked request per scenario before any load: a benchmark of a server that answers
 * errors, or another tenant's rows, would measure the wrong thing. Returns scenarios to skip.
 */
export async function preflight(
  bench: Bench,
  servers: Servers,
  scenarios: Scenario[],
): Promise<Map<string, string>> {
  const skipped = new Map<string, string>();
  const id = FIRST_TENANT + 7;
  const token = bench.tokens.byTenant.get(id)!;
  const ask = (server: Child, query: string, withToken = true) =>
    post(server.port, hostOf(id), withToken ? token : '', JSON.stringify({ query }));
  for (const s of scenarios) {
    const server = s.server === 'raw' ? undefined : servers[s.server]!;
    let problems: string[] = [];
    if (s.requests === 'hello') {
      const r = await ask(server!, QUERIES.hello, false);
      if (!r.body.includes('"world"')) problems.push(r.body);
    } else if (s.requests === 'tenant') {
      const r = await ask(server!, QUERIES.tenant);
      if (r.body !== `{"data":{"tenant":{"name":"Bench tenant ${id}"}}}`)
        problems.push(`${r.status} ${r.body}`);
    } else if (s.requests === 'nested') {
      const r = await ask(server!, QUERIES.nested);
      problems = checkNested(r.status, r.body, id, { projects: 20, tasks: 10 });
      if ((s.key === 'D' || s.key === 'Dᵇ') && problems.length === 0) {
        const serves = await responseCacheServes(server!.port, bench.postgres.superuserDbUrl, id, token);
        if (!serves) skipped.set(s.key, 'no response cache in this build: a changed row showed through');
      }
    } else if (s.requests === 'nestedPostgraphile') {
      // The same rows as C, in the same order, and only the Host's tenant's (RLS through pgSettings).
      const r = await ask(server!, QUERIES.nestedPostgraphile);
      const text = r.status === 200 ? postgraphileAsNested(r.body) : r.body;
      problems = checkNested(r.status, text, id, { projects: 20, tasks: 10 });
      if (problems.length === 0 && servers.main) {
        const c = await ask(servers.main, QUERIES.nested);
        if (c.status !== 200 || JSON.stringify(JSON.parse(c.body)) !== text)
          problems.push(`not the rows C answers: ${text.slice(0, 200)} against ${c.body.slice(0, 200)}`);
      }
      const stranger = await post(
        server!.port,
        hostOf(id + 1),
        token,
        JSON.stringify({ query: QUERIES.nestedPostgraphile }),
      );
      if (stranger.status !== 403)
        problems.push(`a token on another tenant's host answered ${stranger.status}`);
    } else if (s.requests === 'writes' || s.requests === 'writesOneTenant') {
      const [line] = (await readFile(bench.requests[s.requests], 'utf8')).split('\n');
      const [host, authorization, body] = line!.split('\t');
      const r = await post(server!.port, host!, authorization!, body!);
      if (r.status !== 200 || r.body.includes('"errors"')) problems.push(`${r.status} ${r.body}`);
    }
    if (problems.length)
      throw new Error(`scenario ${s.key} answers wrongly: ${problems.slice(0, 3).join('; ')}`);
  }
  return skipped;
}
