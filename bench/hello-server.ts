import { createServer } from 'node:http';
import { createSchema, createYoga } from 'graphql-yoga';

/**
 * Scenario A: the baseline every ratio is measured against. A bare graphql-yoga server with
 * yoga's defaults and one resolver, so the difference from tenantql is what tenantql adds
 * (tenancy, auth, the schema, the database) and what it does differently (its own body-size
 * limit: scenario A′ shows yoga without its own).
 */
const yoga = createYoga({
  schema: createSchema({
    typeDefs: 'type Query { hello: String! }',
    resolvers: { Query: { hello: () => 'world' } },
  }),
  graphiql: false,
  landingPage: false,
  logging: false,
  // Scenario A′: without yoga's body-size limit, which pipes every body through a stream.
  ...(process.env.HELLO_NO_BODY_STREAM === '1' ? { maxRequestBodySize: false as const } : {}),
});

const port = Number(process.env.PORT ?? 4100);
const server = createServer(yoga);
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
