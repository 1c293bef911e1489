import { describe, expect, it } from 'vitest';
import { canonicalAuditRow } from '../../src/audit/chain.js';
import { canonicalJson } from '../../src/crypto/index.js';

describe('canonicalJson', () => {
  it('orders keys by UTF-16 code units at every depth and drops undefined members, byte for byte', () => {
    // Audit hashes and tool pins were computed with this exact output; a change would break verification.
    const sample = {
      b: [3, undefined, { z: 1, a: null }],
      a: 'x"y',
      '10': 1,
      '9': 2,
      é: true,
      E: -0.5,
      skip: undefined,
      nested: { '': 'empty', ü: [] },
    };
    expect(canonicalJson(sample)).toBe(
      '{"10":1,"9":2,"E":-0.5,"a":"x\\"y","b":[3,null,{"a":null,"z":1}],"nested":{"":"empty","ü":[]},"é":true}',
    );
    expect(canonicalJson(undefined)).toBe('null');
    expect(canonicalJson([])).toBe('[]');
  });
});

describe('canonicalAuditRow', () => {
  it('is exactly canonicalJson of the row with an ISO timestamp', () => {
    const row = {
      id: 42,
      prevHash: 'a'.repeat(64),
      action: 'tool.call' as const,
      occurredAt: new Date('2026-11-24T10:11:12.345Z'),
      actorType: 'client' as const,
      actorUserId: 'usr_1',
      actorTokenId: null,
      actorClientId: 'cli_1',
      actorLabel: 'alice/laptop',
      targetType: 'tool',
      targetId: 'mcp_1/echo',
      targetLabel: 'x__echo',
      outcome: 'success' as const,
      reason: null,
      ip: '127.0.0.1',
      requestId: 'req-1',
      details: { z: [1, { b: 2, a: 'é' }], a: null },
    };
    expect(canonicalAuditRow(row)).toBe(canonicalJson({ ...row, occurredAt: row.occurredAt.toISOString() }));
  });
});
