import { describe, expect, it } from 'vitest';
import { decodeGlobalId, encodeGlobalId, parseGlobalId } from '../../src/graphql/ids.js';

const b64 = (s: string) => Buffer.from(s).toString('base64url');

describe('global ids', () => {
  it('carry the type, the tenant and the row', () => {
    const id = encodeGlobalId('Project', 2, '17');
    expect(parseGlobalId(id)).toEqual({ typename: 'Project', tenantId: 2, id: '17' });
    expect(decodeGlobalId(id, 2)).toEqual({ typename: 'Project', id: '17' });
    expect(decodeGlobalId(id, 2, 'Project')).toEqual({ typename: 'Project', id: '17' });
  });

  it('name nothing in another tenant, or as another type', () => {
    // Rows are numbered per tenant: tenant 3 may have a project 17 of its own.
    expect(decodeGlobalId(encodeGlobalId('Project', 2, '17'), 3)).toBeUndefined();
    expect(decodeGlobalId(encodeGlobalId('Project', 2, '17'), 2, 'Task')).toBeUndefined();
  });

  it.each([
    ['the old form without a tenant', b64('Project:17')],
    ['tenant 0', b64('Project:0:17')],
    ['a tenant with a leading zero', b64('Project:02:17')],
    ['row 0', b64('Project:2:0')],
    ['an extra field', b64('Project:2:17:1')],
    ['no type', b64(':2:17')],
    ['a NUL', b64('Project:2:1\u0000')],
    ['too long', 'A'.repeat(65)],
  ])('reject %s', (_name, id) => {
    expect(parseGlobalId(id)).toBeUndefined();
    expect(decodeGlobalId(id, 2)).toBeUndefined();
  });
});
