import { GraphQLObjectType, GraphQLSchema, GraphQLString, validateSchema } from 'graphql';
import { describe, expect, it } from 'vitest';
import { productLoader } from '../../src/product.js';

const query = (fields: ConstructorParameters<typeof GraphQLObjectType>[0]['fields']) =>
  new GraphQLObjectType({ name: 'Query', fields });
const empty = (name: string) => new GraphQLObjectType({ name, fields: {} });

describe('productLoader', () => {
  it('drops the Mutation and Subscription a product added no field to, so its schema is valid', async () => {
    const schema = new GraphQLSchema({
      query: query({ hello: { type: GraphQLString } }),
      mutation: empty('Mutation'),
      subscription: empty('Subscription'),
    });
    expect(validateSchema(schema)).not.toEqual([]);
    const product = await productLoader({ schema })();
    expect(validateSchema(product.schema)).toEqual([]);
    expect(product.schema.getMutationType()).toBeUndefined();
    expect(product.schema.getSubscriptionType()).toBeUndefined();
    expect(product.schema.getType('Subscription')).toBeUndefined();
    expect(product.schema.getQueryType()?.getFields().hello).toBeDefined();
  });

  it('keeps a schema whose roots all have fields as it is', async () => {
    const schema = new GraphQLSchema({
      query: query({ hello: { type: GraphQLString } }),
      mutation: new GraphQLObjectType({ name: 'Mutation', fields: { ping: { type: GraphQLString } } }),
    });
    expect((await productLoader({ schema })()).schema).toBe(schema);
  });

  it('refuses any other invalid schema with graphql’s words, before serving it', async () => {
    const schema = new GraphQLSchema({ query: query({ nothing: { type: empty('Nothing') } }) });
    await expect(productLoader({ schema })()).rejects.toThrow(
      /^invalid schema: Type Nothing must define one or more fields\.$/,
    );
  });

  it('loads a lazy product once', async () => {
    let loads = 0;
    const schema = new GraphQLSchema({ query: query({ hello: { type: GraphQLString } }) });
    const load = productLoader(async () => {
      loads++;
      return { schema };
    });
    await Promise.all([load(), load()]);
    expect(loads).toBe(1);
  });
});
