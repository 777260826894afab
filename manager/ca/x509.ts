// The X.509 library, set up once: @peculiar/x509 needs a Reflect metadata polyfill (tsyringe) loaded
// before it, and node:crypto's webcrypto as its crypto provider. Everything in manager/ca imports the
// library from here so the order is kept.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto);

export { x509 };
export const subtle = webcrypto.subtle;

/** Every key in the cluster: ECDSA on P-256, signatures with SHA-256 (as swarmkit). */
export const EC_ALG = { name: 'ECDSA', namedCurve: 'P-256' } as const;
export const SIGN_ALG = { name: 'ECDSA', hash: 'SHA-256' } as const;
