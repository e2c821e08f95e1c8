import { describe, expect, it } from 'vitest';
import {
  channels,
  defineTopic,
  hashSegment,
  KEY_PATTERN,
  keys,
  tenantPattern,
  values,
} from '../../src/cache/keyspace.js';
// Defines the demo's `tasks` topic, as the demo product does when it loads.
import '../../src/example/types/task-events.js';

declare module '../../src/index.js' {
  interface Topics {
    'unit-notes': { noteId: string };
  }
}

describe('keyspace', () => {
  it('forms every key and channel under {t<ID>}: with the delimiter', () => {
    const formed = [
      keys.cacheGeneration(2),
      keys.cacheEntries(2),
      keys.rateLimit(2, 60),
      keys.system('reserved'),
      channels.events(2, 'tasks'),
      channels.events(2, 'revocations'),
    ];
    for (const key of formed) expect(key).toMatch(KEY_PATTERN);
    expect(keys.cacheEntries(2)).toBe('{t2}:cache:entries');
    expect(channels.events(20, 'tasks')).toBe('{t20}:events:tasks');
    expect(channels.events(2, 'revocations')).toBe('{t2}:events:revocations');
    expect(tenantPattern(2)).toBe('{t2}:*');
  });

  it('refuses anything but a tenant id or a positive window', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 31])
      expect(() => keys.cacheEntries(bad)).toThrow(RangeError);
    expect(() => keys.rateLimit(2, 0)).toThrow(RangeError);
  });

  it('hashes user-derived segments into pattern-free base64url', () => {
    for (const input of ['*', '?', '[a-z]', 'a:b', '\\', '{t3}', '']) {
      expect(hashSegment(input)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    }
  });

  it('reads a garbled, mis-shaped or foreign value as a miss', () => {
    const body = '{"data":{"a":"é ✓"}}';
    const entry = values.encodeCacheEntry(2, 4, body);
    expect(entry).toBe(`2:4:${body}`);
    const bytes = (text: string) => Buffer.from(text);
    expect(values.decodeCacheEntry(bytes(entry), 2)).toEqual({ t: 2, g: 4, body: bytes(body) });
    expect(values.decodeCacheEntry(bytes(entry), 3)).toBeUndefined();
    expect(values.decodeCacheEntry(bytes('20:4:{"data":{"a":1}}'), 2)).toBeUndefined();
    for (const raw of [
      null,
      '',
      '{',
      '[]',
      '{"t":2,"g":4,"d":{}}', // the old format
      '2:x:{"data":{}}',
      '2:04:{"data":{}}',
      '02:4:{"data":{}}',
      '2:4:',
      '2:4:{"errors":[]}',
      '2:4:{"data":{"a":', // cut short
      '2:4:<html>',
    ]) {
      expect(values.decodeCacheEntry(raw === null ? raw : bytes(raw), 2)).toBeUndefined();
    }
    expect(values.decodeCounter(null)).toBe(0);
    expect(values.decodeCounter('17')).toBe(17);
    expect(values.decodeCounter('x')).toBeUndefined();

    const event = values.encodeEvent(2, 'tasks', { kind: 'CREATED', taskId: '5', projectId: '1' });
    expect(values.decodeEvent(event, 2, 'tasks')).toEqual({ kind: 'CREATED', taskId: '5', projectId: '1' });
    expect(values.decodeEvent(event, 3, 'tasks')).toBeUndefined();
    expect(
      values.decodeEvent('{"t":2,"kind":"EXPLODED","taskId":"5","projectId":"1"}', 2, 'tasks'),
    ).toBeUndefined();

    // A revocation carries a key id and nothing else; one of another tenant, or not an id, is dropped.
    const revocation = values.encodeEvent(2, 'revocations', { apiKeyId: '7' });
    expect(revocation).toBe('{"apiKeyId":"7","t":2}');
    expect(values.decodeEvent(revocation, 2, 'revocations')).toEqual({ apiKeyId: '7' });
    expect(values.decodeEvent(revocation, 3, 'revocations')).toBeUndefined();
    expect(values.decodeEvent('{"t":2,"apiKeyId":"*"}', 2, 'revocations')).toBeUndefined();
  });

  it("carries a product's own topic once it is defined, checked by its own check", () => {
    const note = values.encodeEvent(2, 'unit-notes', { noteId: '9' });
    // Not defined yet: nothing of it is ever handed to a subscriber.
    expect(values.decodeEvent(note, 2, 'unit-notes')).toBeUndefined();
    defineTopic('unit-notes', (m) => (typeof m.noteId === 'string' ? { noteId: m.noteId } : undefined));
    expect(values.decodeEvent(note, 2, 'unit-notes')).toEqual({ noteId: '9' });
    expect(values.decodeEvent(note, 3, 'unit-notes')).toBeUndefined();
    expect(values.decodeEvent('{"t":2,"noteId":9}', 2, 'unit-notes')).toBeUndefined();
    expect(values.decodeEvent('{"noteId":"9"}', 2, 'unit-notes')).toBeUndefined();
    expect(channels.events(2, 'unit-notes')).toBe('{t2}:events:unit-notes');
    expect(channels.events(2, 'unit-notes')).toMatch(KEY_PATTERN);
    expect(() => defineTopic('unit-notes', () => undefined)).toThrow(/defined twice/);
    expect(() => defineTopic('Bad Name' as 'unit-notes', () => undefined)).toThrow(/is not of the form/);
  });
});
