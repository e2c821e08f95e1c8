import { createServer } from 'node:http';
import { createSchema, createYoga } from 'graphql-yoga';

/**
 * Scenario A: the baseline every ratio is measured against. A bare graphql-yoga server with
 * yoga's defaults (as tenantql has them) and one resolver, so the only difference from
 * tenantql is what tenantql adds: tenancy, auth, the schema, the database.
 */
const yoga = createYoga({
  schema: createSchema({
    typeDefs: 'type Query { hello: String! }',
    resolvers: { Query: { hello: () => 'world' } },
  }),
  graphiql: false,
  landingPage: false,
  logging: false,
});

const port = Number(process.env.PORT ?? 4100);
const server = createServer(yoga);
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
