import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CreateUserInput, ErrorCode, UserId } from '../src/index.js';

const srcDir = path.resolve(import.meta.dirname, '../src');

describe('@gatehouse/schema', () => {
  it('depends on zod only and imports no Node built-in (the portal and the SDK load it)', () => {
    const pkg = JSON.parse(readFileSync(path.resolve(srcDir, '../package.json'), 'utf8'));
    expect(Object.keys(pkg.dependencies)).toEqual(['zod']);
    for (const file of readdirSync(srcDir)) {
      const source = readFileSync(path.join(srcDir, file), 'utf8');
      const imports = [...source.matchAll(/from '([^']+)'/g)].map((m) => m[1]);
      for (const spec of imports)
        expect(spec === 'zod' || spec?.startsWith('./'), `${file} imports ${spec}`).toBe(true);
    }
  });

  it('bounds inputs and normalizes identifiers', () => {
    expect(UserId.safeParse('usr_abc').success).toBe(false);
    expect(UserId.safeParse('usr_0123456789abcdef').success).toBe(true);
    const parsed = CreateUserInput.parse({
      username: '  Alice ',
      displayName: 'Alice',
      email: 'alice@example.test',
      password: 'x'.repeat(12),
    });
    expect(parsed).toMatchObject({ username: 'alice', role: 'user' });
    expect(CreateUserInput.safeParse({ ...parsed, password: 'x'.repeat(257) }).success).toBe(false);
    expect(ErrorCode.options).toContain('CSRF_REJECTED');
  });
});
