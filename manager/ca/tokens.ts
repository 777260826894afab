// Join tokens, in swarmkit's format: SWMTKN-1-<digest>-<secret>.
//   digest: SHA-256 of the root CA certificate (its DER), as a base-36 number padded to 50 characters;
//           it lets a joiner pin the root it fetched over an unverified connection.
//   secret: 16 random bytes as a base-36 number padded to 25 characters; it decides the role.
// The worker and the manager tokens share the digest and differ in their secret.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { ShoalError } from '../../common/errors.js';

export const TOKEN_PREFIX = 'SWMTKN';
export const TOKEN_VERSION = '1';
export const DIGEST_CHARS = 50; // 256 bits in base 36
export const SECRET_CHARS = 25; // 128 bits in base 36
const SECRET_BYTES = 16;
const BASE36 = /^[0-9a-z]+$/;

export interface JoinToken {
  /** SHA-256 of the root CA certificate's DER. */
  rootDigest: Buffer;
  /** The secret part, as written in the token. */
  secret: string;
}

function toBase36(bytes: Buffer, width: number): string {
  return BigInt(`0x${bytes.toString('hex') || '0'}`)
    .toString(36)
    .padStart(width, '0');
}

function fromBase36(text: string, bytes: number): Buffer {
  let n = 0n;
  for (const ch of text) n = n * 36n + BigInt(Number.parseInt(ch, 36));
  const hex = n.toString(16).padStart(bytes * 2, '0');
  if (hex.length > bytes * 2) throw new Error('too large');
  return Buffer.from(hex, 'hex');
}

export function formatToken(rootDigest: Buffer, secret: string): string {
  return `${TOKEN_PREFIX}-${TOKEN_VERSION}-${toBase36(rootDigest, DIGEST_CHARS)}-${secret}`;
}

/** A fresh token for the root whose digest is given (a new secret each call: also how rotation works). */
export function generateToken(rootDigest: Buffer, random: (n: number) => Buffer = randomBytes): string {
  return formatToken(rootDigest, toBase36(random(SECRET_BYTES), SECRET_CHARS));
}

function bad(message: string): ShoalError {
  return new ShoalError('invalid_argument', `join token: ${message}`, { field: 'token' });
}

/** Parses a token, naming the part that is wrong. Does not say whether the secret is valid. */
export function parseToken(token: string): JoinToken {
  const t = token.trim();
  const parts = t.split('-');
  if (parts[0] !== TOKEN_PREFIX)
    throw bad(`must start with "${TOKEN_PREFIX}-" (got ${JSON.stringify(parts[0]?.slice(0, 10) ?? '')})`);
  if (parts.length !== 4)
    throw bad(`must have 4 parts separated by "-" (prefix, version, digest, secret), got ${parts.length}`);
  const [, version, digest, secret] = parts as [string, string, string, string];
  if (version !== TOKEN_VERSION)
    throw bad(`version ${JSON.stringify(version)} is not supported (only ${TOKEN_VERSION})`);
  if (digest.length !== DIGEST_CHARS)
    throw bad(`the CA digest must be ${DIGEST_CHARS} characters, got ${digest.length}`);
  if (!BASE36.test(digest)) throw bad('the CA digest must be base-36 (0-9, a-z)');
  if (secret.length !== SECRET_CHARS)
    throw bad(`the secret must be ${SECRET_CHARS} characters, got ${secret.length}`);
  if (!BASE36.test(secret)) throw bad('the secret must be base-36 (0-9, a-z)');
  let rootDigest: Buffer;
  try {
    rootDigest = fromBase36(digest, 32);
  } catch {
    throw bad('the CA digest is larger than a SHA-256 digest');
  }
  return { rootDigest, secret };
}

/** Compares two tokens' secrets in constant time (the lengths are fixed by the format). */
export function secretsEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
