import { type GraphiQLOptions, type Plugin, shouldRenderGraphiQL } from 'graphql-yoga';
import { roleClaims } from '../../auth/roles.js';
import { strategyClaims } from '../../auth/tenant-claim.js';
import { signToken } from '../../auth/verify.js';
import type { Config } from '../../config.js';
import type { Tenant } from '../../tenancy/tenants-file.js';
import { stateOf } from '../state.js';

export interface TenantGraphiQLOptions {
  config: Pick<Config, 'jwt' | 'serviceJwt'>;
  graphqlEndpoint: string;
}

const DEMO_TOKEN_TTL = '12h';

/**
 * GraphiQL for the tenant of the host, outside production (the caller leaves it out there).
 * It runs after the tenancy plugin, so an unknown, bad or disabled host gets that plugin's
 * error instead of a page. The page is self-contained (no CDN), so it works offline.
 *
 * With the built-in development secret, the Authorization header is pre-filled with a demo
 * token for this tenant: the development secret is public anyway, and a real secret never
 * mints tokens here.
 */
export function useTenantGraphiQL(options: TenantGraphiQLOptions): Plugin {
  return {
    async onRequest({ request, url, endResponse }) {
      if (url.pathname !== options.graphqlEndpoint || !shouldRenderGraphiQL(request)) return;
      const tenant = stateOf(request).tenant;
      if (!tenant) return;
      const token = await demoToken(tenant, options.config);
      const page = await render({
        title: `${tenant.name} · tenantql`,
        endpoint: options.graphqlEndpoint,
        defaultQuery: exampleQuery(tenant),
        headers: JSON.stringify(token ? { Authorization: `Bearer ${token}` } : {}, null, 2),
        defaultEditorToolsVisibility: token ? 'headers' : true,
        shouldPersistHeaders: false,
        subscriptionsProtocol: 'SSE',
      });
      endResponse(
        new Response(page, {
          status: 200,
          // The page embeds a token: keep it out of shared caches and other sites' frames.
          headers: {
            'content-type': 'text/html; charset=utf-8',
            'cache-control': 'no-store',
            'x-frame-options': 'DENY',
          },
        }),
      );
    },
  };
}

async function demoToken(
  tenant: Tenant,
  config: TenantGraphiQLOptions['config'],
): Promise<string | undefined> {
  const service = tenant.kind === 'virtual';
  const key = service ? config.serviceJwt : config.jwt;
  if (!key.devSecret || !key.secret) return undefined;
  return signToken({
    kind: service ? 'service' : 'user',
    secret: key.secret,
    subject: service ? `demo-${tenant.subdomain}` : 'demo-user',
    tenantClaim: config.jwt.tenantClaim,
    tenantId: tenant.id,
    ttl: DEMO_TOKEN_TTL,
    issuer: config.jwt.issuer,
    audience: config.jwt.audience,
    // The tenant's admin, so that every mutation of the schema can be tried from GraphiQL.
    ...(!service && {
      claims: {
        ...strategyClaims(config.jwt.tenantStrategy, tenant.subdomain),
        ...roleClaims(config.jwt.rolesClaim, 'admin'),
      },
    }),
  });
}

function exampleQuery(tenant: Tenant): string {
  if (tenant.kind === 'system') {
    return '# The system tenant: every tenant, read through the admin role.\n{\n  tenants { id subdomain name kind disabled }\n  reloadStatus { at ok tenantCount problems }\n}\n';
  }
  return [
    // The subdomain is a DNS label; the free-form name stays out of the page's script.
    `# ${tenant.subdomain}: every row this page shows belongs to this tenant.`,
    '{',
    '  tenant { id subdomain name }',
    '  viewer { kind subject }',
    '  projects(first: 10) { totalCount edges { node { id name } } }',
    '}',
    '',
  ].join('\n');
}

const MARK = `tenantql-${crypto.randomUUID()}`;
let template: Promise<string> | undefined;

/**
 * The page is ~9 MB of inlined GraphiQL, so it is rendered once (on first use: production never
 * loads the module) with a marker, and each request only swaps in its options.
 * renderGraphiQL writes the title and the options unescaped; tenant names come from the
 * tenants file, so the title is HTML-escaped and `<` in the script's JSON is \u003c.
 */
async function render(options: GraphiQLOptions): Promise<string> {
  template ??= import('@graphql-yoga/render-graphiql').then(({ renderGraphiQL }) =>
    renderGraphiQL({ title: MARK }),
  );
  const html = await template;
  const json = JSON.stringify(options).replace(/</g, '\\u003c');
  return html
    .replace(`<title>${MARK}</title>`, () => `<title>${escapeHtml(options.title ?? 'tenantql')}</title>`)
    .replace(JSON.stringify({ title: MARK }), () => json);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
