import {
  type DocumentNode,
  getOperationAST,
  Kind,
  type OperationDefinitionNode,
  valueFromASTUntyped,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Context } from '../../context.js';
import type { Logger } from '../../observability/logger.js';

/**
 * Logs every GraphQL operation on the system tenant's host: who (the token's subject), what
 * it read (each root field with its arguments, variables applied), and whether it failed.
 * The admin pool bypasses row level security, so this line is the record of cross-tenant reads.
 */
export function useAdminRequestLog(logger: Logger): Plugin<Context> {
  return {
    onExecute({ args }) {
      const ctx = args.contextValue;
      if (ctx.tenant.kind !== 'system') return;
      const operation = getOperationAST(args.document, args.operationName);
      const read = operation ? rootFields(args.document, operation, args.variableValues ?? {}) : [];
      return {
        onExecuteDone({ result }) {
          const errors = 'errors' in result ? (result.errors?.length ?? 0) : 0;
          logger.info(
            {
              requestId: ctx.requestId,
              subject: ctx.principal.kind === 'ANONYMOUS' ? null : ctx.principal.subject,
              principal: ctx.principal.kind,
              operationName: operation?.name?.value ?? null,
              read,
              errors,
            },
            'admin request',
          );
        },
      };
    },
  };
}

/** `tenant(id: 2)`-style descriptions of the operation's root fields (fragments expanded). */
function rootFields(
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown>,
): string[] {
  const fragments = new Map(
    document.definitions.flatMap((d) => (d.kind === Kind.FRAGMENT_DEFINITION ? [[d.name.value, d]] : [])),
  );
  const out: string[] = [];
  const visit = (selections: typeof operation.selectionSet.selections, depth: number) => {
    if (depth > 5) return; // bounded: the depth limit rejects deeper documents anyway
    for (const selection of selections) {
      if (selection.kind === Kind.FIELD) {
        const args = (selection.arguments ?? []).map(
          (arg) => `${arg.name.value}: ${JSON.stringify(valueFromASTUntyped(arg.value, variables))}`,
        );
        out.push(args.length ? `${selection.name.value}(${args.join(', ')})` : selection.name.value);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        visit(selection.selectionSet.selections, depth + 1);
      } else {
        const fragment = fragments.get(selection.name.value);
        if (fragment) visit(fragment.selectionSet.selections, depth + 1);
      }
    }
  };
  visit(operation.selectionSet.selections, 0);
  return out;
}
