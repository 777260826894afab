// Public face of the secrets' key management: the data key, sealing, its file, and its gRPC handover.
export {
  checkDataKey,
  DATA_KEY_BYTES,
  type DataKey,
  DataKeyCipher,
  newDataKey,
  type SecretCipher,
} from './cipher.js';
export { loadDataKey, saveDataKey } from './key-file.js';
export { CLUSTER_KEYS_POLICY, clusterKeysService, fetchDataKey } from './service.js';
