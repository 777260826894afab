import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isShoalError } from '../../common/errors.js';
import {
  DIGEST_CHARS,
  formatToken,
  generateToken,
  parseToken,
  SECRET_CHARS,
  secretsEqual,
} from './tokens.js';

const digest = createHash('sha256').update('root').digest();

function parseError(token: string): string {
  try {
    parseToken(token);
  } catch (err) {
    expect(isShoalError(err, 'invalid_argument')).toBe(true);
    expect((err as { field?: string }).field).toBe('token');
    return (err as Error).message;
  }
  throw new Error(`parsed: ${token}`);
}

describe('join tokens', () => {
  it('have swarmkit’s shape and round-trip the digest', () => {
    const t = generateToken(digest);
    expect(t).toMatch(new RegExp(`^SWMTKN-1-[0-9a-z]{${DIGEST_CHARS}}-[0-9a-z]{${SECRET_CHARS}}$`));
    expect(parseToken(t).rootDigest.equals(digest)).toBe(true);
    expect(generateToken(digest)).not.toBe(t); // a fresh secret each time
  });

  it('round-trip any digest and secret (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        (d, s) => {
          const t = generateToken(Buffer.from(d), () => Buffer.from(s));
          const p = parseToken(t);
          expect(p.rootDigest.equals(Buffer.from(d))).toBe(true);
          expect(p.secret).toHaveLength(SECRET_CHARS);
        },
      ),
    );
  });

  it('name the part that is wrong', () => {
    const good = generateToken(digest);
    const [, , d, s] = good.split('-') as [string, string, string, string];
    expect(parseError('')).toMatch(/must start with "SWMTKN-"/);
    expect(parseError(`XWMTKN-1-${d}-${s}`)).toMatch(/must start with "SWMTKN-"/);
    expect(parseError(`SWMTKN-1-${d}`)).toMatch(/4 parts/);
    expect(parseError(`SWMTKN-2-${d}-${s}`)).toMatch(/version "2" is not supported/);
    expect(parseError(`SWMTKN-1-${d.slice(1)}-${s}`)).toMatch(/CA digest must be 50 characters, got 49/);
    expect(parseError(`SWMTKN-1-${d.slice(0, -1)}Z-${s}`)).toMatch(/CA digest must be base-36/);
    expect(parseError(`SWMTKN-1-${'z'.repeat(50)}-${s}`)).toMatch(/larger than a SHA-256/);
    expect(parseError(`SWMTKN-1-${d}-${s}x`)).toMatch(/secret must be 25 characters, got 26/);
    expect(parseError(`SWMTKN-1-${d}-${s.slice(0, -1)}!`)).toMatch(/secret must be base-36/);
    expect(parseToken(`  ${good}\n`).secret).toBe(s); // pasted with whitespace
  });

  it('compare secrets exactly', () => {
    expect(secretsEqual('abc', 'abc')).toBe(true);
    expect(secretsEqual('abc', 'abd')).toBe(false);
    expect(secretsEqual('abc', 'abcd')).toBe(false);
  });

  it('format pads small digests to full width', () => {
    const t = formatToken(Buffer.alloc(32), '0'.repeat(SECRET_CHARS));
    expect(t).toBe(`SWMTKN-1-${'0'.repeat(50)}-${'0'.repeat(25)}`);
    expect(parseToken(t).rootDigest.equals(Buffer.alloc(32))).toBe(true);
  });
});
