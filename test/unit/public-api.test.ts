import { describe, expect, it } from 'vitest';

describe('the public API (package.json exports -> src/index.ts)', () => {
  it('exports exactly these values; a change here is a change of the contract for products', async () => {
    const api = await import('../../src/index.js');
    expect(Object.keys(api).sort()).toEqual([
      'ADMIN',
      'ADMIN_USER',
      'AUTHENTICATED',
      'AppError',
      'MEMBER',
      'Node',
      'RequestLoaders',
      'TenantSummary',
      'adminBuilder',
      'adminConnectionOf',
      'badUserInput',
      'builder',
      'byKeys',
      'connectionOf',
      'createTenantQL',
      'decodeGlobalId',
      'defineEncryptedColumn',
      'defineLoader',
      'defineLoaderFamily',
      'defineTopic',
      'email',
      'encodeGlobalId',
      'forbidden',
      'groupByKeys',
      'notFound',
      'optionalText',
      'pageFrom',
      'readAcrossTiers',
      'registerNodeType',
      'registerUniqueMessage',
      'requiredText',
      'rowId',
      'rowIdOrNull',
      'tableField',
      'toConnection',
    ]);
  });
});
