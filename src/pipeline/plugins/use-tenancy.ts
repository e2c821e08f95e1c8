import type { IncomingMessage } from 'node:http';
import type { Plugin } from 'graphql-yoga';
import { adminDisabled, badHost, errorResponse, tenantDisabled, tenantNotFound } from '../../errors.js';
import { normalizeHost } from '../../tenancy/host.js';
import type { TenantRegistry } from '../../tenancy/registry.js';
import { requestHost } from '../../tenancy/request-host.js';
import { stateOf } from '../state.js';

export interface TenancyOptions {
  registry: TenantRegistry;
  graphqlEndpoint: string;
  trustProxy: boolean;
  /** False when DATABASE_ADMIN_URL is unset: the system host answers 503. */
  adminEnabled: boolean;
}

/**
 * Resolves the tenant from the Host header before anything else runs, and ends the response
 * for bad, unknown or disabled hosts: an unknown host never reaches the GraphQL parser.
 */
export function useTenancy(options: TenancyOptions): Plugin {
  let endpointPattern: UrlTest | undefined;
  return {
    onRequest({ request, serverContext, url, endResponse, fetchAPI }) {
      const pattern = endpointPattern ?? new fetchAPI.URLPattern({ pathname: options.graphqlEndpoint });
      endpointPattern = pattern;
      if (!isGraphQLRoute(request, url, options.graphqlEndpoint, pattern)) return;
      const req = (serverContext as { req?: IncomingMessage } | undefined)?.req;
      const raw = requestHost(request, req, options.trustProxy);
      const host = raw.ok ? normalizeHost(raw.value) : raw;
      if (!host.ok) return endResponse(errorResponse(badHost()));

      const tenants = options.registry.current;
      const tenant = tenants.byHost(host.host);
      if (!tenant) return endResponse(errorResponse(tenantNotFound()));
      if (tenant.disabled) return endResponse(errorResponse(tenantDisabled()));
      if (tenant.kind === 'system' && !options.adminEnabled)
        return endResponse(errorResponse(adminDisabled()));

      const state = stateOf(request);
      state.tenants = tenants;
      state.tenant = tenant;
    },
  };
}

/** What this file needs of a URLPattern (its type is the DOM lib's, outside ours). */
type UrlTest = { test(url: URL): boolean };

/**
 * yoga serves GraphQL on more than the exact endpoint path (its use-unhandled-route.ts): also
 * `/graphql/`, any URL that *ends* with the endpoint (`/x/graphql`), and whatever its URLPattern
 * for the endpoint matches (`//x/graphql?query=…`). Every request yoga would execute must pass
 * through tenancy, so this mirrors its test, pattern included.
 */
function isGraphQLRoute(request: Request, url: URL, endpoint: string, pattern: UrlTest): boolean {
  return (
    url.pathname === endpoint ||
    url.pathname === `${endpoint}/` ||
    request.url.endsWith(endpoint) ||
    request.url.endsWith(`${endpoint}/`) ||
    pattern.test(url)
  );
}
