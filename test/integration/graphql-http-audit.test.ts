import { writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { type AuditResult, serverAudits } from 'graphql-http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestApp } from '../helpers/app.js';

/**
 * graphql-http's conformance audits against a tenant host over a real socket. Node's fetch
 * drops a custom Host header and `*.localhost` need not resolve, so the audits get a fetch
 * that always dials 127.0.0.1 and sends the URL's host as Host.
 * `UPDATE_AUDIT_DOC=1` rewrites docs/graphql-http-audit.md from the results.
 */
async function loopbackFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const request = new Request(input, init);
  const url = new URL(request.url);
  const body = request.body ? Buffer.from(await request.arrayBuffer()) : undefined;
  const headers: Record<string, string> = Object.fromEntries(request.headers);
  headers.host = url.host;
  if (body) headers['content-length'] = String(body.length);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port: url.port, method: request.method, path: url.pathname + url.search, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const responseHeaders = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            if (value !== undefined)
              responseHeaders.set(name, Array.isArray(value) ? value.join(', ') : value);
          }
          const status = res.statusCode ?? 500;
          const empty = status === 204 || status === 304;
          resolve(new Response(empty ? null : Buffer.concat(chunks), { status, headers: responseHeaders }));
        });
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('audit request timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

let t: TestApp;
let results: AuditResult[];
beforeAll(async () => {
  t = await TestApp.start();
  const port = await t.listen();
  const url = `http://tenant1.localhost:${port}/graphql`;
  // The fetch really reaches tenant1 (id 2), not some default.
  const probe = await loopbackFetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: '{ tenant { id } }' }),
  });
  expect(await probe.json()).toEqual({ data: { tenant: { id: 2 } } });
  results = [];
  for (const audit of serverAudits({ url, fetchFn: loopbackFetch })) results.push(await audit.fn());
  if (process.env.UPDATE_AUDIT_DOC === '1') await writeAuditDoc(results);
});
afterAll(() => t.close());

const level = (r: AuditResult) => r.name.split(' ')[0];
const failures = (results: AuditResult[]) =>
  results.filter((r) => r.status !== 'ok').map((r) => `${r.id} ${r.name}: ${'reason' in r ? r.reason : ''}`);

describe('GraphQL over HTTP conformance (graphql-http serverAudits) on a tenant host', () => {
  it('runs the whole audit list', () => {
    expect(results.length).toBeGreaterThan(50);
  });

  it('passes every MUST', () => {
    expect(failures(results.filter((r) => level(r) === 'MUST'))).toEqual([]);
  });

  it('reports the SHOULD and MAY results', () => {
    const optional = results.filter((r) => level(r) !== 'MUST');
    const passed = optional.filter((r) => r.status === 'ok').length;
    console.info(`graphql-http audit: ${passed}/${optional.length} SHOULD/MAY pass`, failures(optional));
    expect(optional.length).toBeGreaterThan(0);
  });
});

async function writeAuditDoc(results: AuditResult[]): Promise<void> {
  const row = (r: AuditResult) =>
    `| ${r.id} | ${r.name.replaceAll('|', '\\|')} | ${r.status === 'ok' ? 'pass' : `${r.status}: ${('reason' in r ? r.reason : '').replaceAll('|', '\\|').replaceAll('\n', ' ')}`} |`;
  const section = (lvl: string) => {
    const rows = results.filter((r) => level(r) === lvl);
    const passed = rows.filter((r) => r.status === 'ok').length;
    return [
      `## ${lvl} (${passed}/${rows.length} pass)`,
      '',
      '| id | audit | result |',
      '| --- | --- | --- |',
      ...rows.map(row),
      '',
    ];
  };
  const lines = [
    '# GraphQL over HTTP conformance',
    '',
    "`test/integration/graphql-http-audit.test.ts` runs graphql-http's `serverAudits` against a tenant",
    'host (`tenant1.localhost`) of a listening server, anonymously. Every MUST is a test assertion;',
    'SHOULD and MAY are reported here. Regenerate with',
    '`UPDATE_AUDIT_DOC=1 npx vitest run test/integration/graphql-http-audit.test.ts`.',
    '',
    ...section('MUST'),
    ...section('SHOULD'),
    ...section('MAY'),
  ];
  await writeFile(new URL('../../docs/graphql-http-audit.md', import.meta.url), lines.join('\n'));
}
