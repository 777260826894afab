// Sealing secret data with the cluster's data key: AES-256-GCM (node:crypto), a random 96-bit nonce per
// seal, the secret's id as additional authenticated data (a ciphertext copied onto another secret does not
// open). Pure apart from the nonce's randomness, which the caller may inject (tests).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { ShoalError } from '../../common/errors.js';
import type { SealedData } from '../../proto/gen/shoal/swarm/v1/objects.js';

export const DATA_KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** The cluster's data key: made at `swarm init`, never written to the raft log (see README). */
export interface DataKey {
  /** Names the key in sealed data (rotation would add keys; the id is not secret). */
  id: string;
  key: Buffer;
}

export function newDataKey(random: (n: number) => Buffer = randomBytes): DataKey {
  return { id: random(8).toString('hex'), key: random(DATA_KEY_BYTES) };
}

export function checkDataKey(k: DataKey, where: string): DataKey {
  if (!/^[0-9a-f]{1,64}$/.test(k.id) || k.key.length !== DATA_KEY_BYTES)
    throw new ShoalError(
      'internal',
      `${where}: not a valid data key (want an id and ${DATA_KEY_BYTES} bytes)`,
    );
  return k;
}

const aad = (secretId: string) => Buffer.from(`shoal-secret:${secretId}`);

/** What the control API and the dispatcher need: seal on create, open to compare or to hand to a worker. */
export interface SecretCipher {
  seal(secretId: string, plaintext: Uint8Array): SealedData;
  open(secretId: string, sealed: SealedData): Buffer;
}

export class DataKeyCipher implements SecretCipher {
  constructor(
    private readonly key: DataKey,
    private readonly random: (n: number) => Buffer = randomBytes,
  ) {
    checkDataKey(key, 'cipher');
  }

  seal(secretId: string, plaintext: Uint8Array): SealedData {
    const nonce = this.random(NONCE_BYTES);
    const c = createCipheriv('aes-256-gcm', this.key.key, nonce, { authTagLength: TAG_BYTES });
    c.setAAD(aad(secretId));
    const body = Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
    return { keyId: this.key.id, nonce, ciphertext: body };
  }

  open(secretId: string, sealed: SealedData): Buffer {
    if (sealed.keyId !== this.key.id)
      throw new ShoalError(
        'internal',
        `secret ${secretId} is sealed with data key ${sealed.keyId}, this manager holds ${this.key.id}`,
      );
    const body = Buffer.from(sealed.ciphertext);
    if (body.length < TAG_BYTES || sealed.nonce.length !== NONCE_BYTES)
      throw new ShoalError('internal', `secret ${secretId}: sealed data is malformed`);
    const d = createDecipheriv('aes-256-gcm', this.key.key, Buffer.from(sealed.nonce), {
      authTagLength: TAG_BYTES,
    });
    d.setAAD(aad(secretId));
    d.setAuthTag(body.subarray(body.length - TAG_BYTES));
    try {
      return Buffer.concat([d.update(body.subarray(0, body.length - TAG_BYTES)), d.final()]);
    } catch (err) {
      throw new ShoalError('internal', `secret ${secretId}: sealed data does not authenticate`, {
        cause: err,
      });
    }
  }
}
