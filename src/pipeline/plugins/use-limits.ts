import { blockFieldSuggestionsPlugin } from '@escape.tech/graphql-armor-block-field-suggestions';
import { costLimitPlugin } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesPlugin } from '@escape.tech/graphql-armor-max-directives';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import { useDisableIntrospection } from '@graphql-yoga/plugin-disable-introspection';
import type { Plugin } from 'graphql-yoga';
import type { Config } from '../../config.js';

/**
 * Abuse limits (SPEC §7), enforced by GraphQL Armor's rules at parse/validation time, so a
 * rejected operation never executes and its response has no `data`. Batch size is yoga's
 * `batching.limit` (app.ts). In production, introspection and "did you mean" hints are off.
 */
export function limitPlugins(config: Pick<Config, 'limits' | 'production'>): Plugin[] {
  const { limits } = config;
  const plugins = [
    maxTokensPlugin({ n: limits.maxTokens }),
    maxDepthPlugin({ n: limits.maxDepth, flattenFragments: true }),
    maxAliasesPlugin({ n: limits.maxAliases }),
    maxDirectivesPlugin({ n: 50 }),
    costLimitPlugin({ maxCost: limits.maxCost }),
  ] as Plugin[];
  if (config.production) {
    plugins.push(blockFieldSuggestionsPlugin() as Plugin, useDisableIntrospection());
  }
  return plugins;
}
