// ClusterKeys' gRPC face (proto/shoal/secrets/v1/keys.proto): a manager hands the data key to another
// manager (mTLS, the caller's certificate must say manager: CLUSTER_KEYS_POLICY), and `fetchDataKey` is the
// asking side, used by a manager that joins or lost its key file.
import * as grpc from '@grpc/grpc-js';
import { ShoalError } from '../../common/errors.js';
import {
  ClusterKeysClient,
  type ClusterKeysServer,
  ClusterKeysService,
} from '../../proto/gen/shoal/secrets/v1/keys.js';
import type { MethodPolicy } from '../ca/authz.js';
import { kindOfCode, toServiceError } from '../ca/service.js';
import { checkDataKey, type DataKey } from './cipher.js';

export const CLUSTER_KEYS_POLICY: MethodPolicy = {
  [ClusterKeysService.getDataKey.path]: ['manager'],
};

export function clusterKeysService(key: () => DataKey | undefined): {
  definition: typeof ClusterKeysService;
  implementation: ClusterKeysServer;
} {
  const implementation: ClusterKeysServer = {
    getDataKey: (_call, callback) => {
      const k = key();
      if (!k)
        return callback(toServiceError(new ShoalError('unavailable', 'this manager holds no data key yet')));
      callback(null, { keyId: k.id, key: k.key });
    },
  };
  return { definition: ClusterKeysService, implementation };
}

/** Asks the manager at `address` for the data key (mTLS with this node's manager certificate). */
export function fetchDataKey(
  address: string,
  credentials: grpc.ChannelCredentials,
  channelOptions: grpc.ChannelOptions,
  timeoutMs = 10_000,
): Promise<DataKey> {
  const client = new ClusterKeysClient(address, credentials, channelOptions);
  return new Promise<DataKey>((resolve, reject) => {
    client.getDataKey({}, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
      client.close();
      if (err)
        return reject(
          new ShoalError(
            kindOfCode(err.code),
            `fetching the data key from ${address}: ${err.details || err.message}`,
          ),
        );
      try {
        resolve(checkDataKey({ id: res.keyId, key: Buffer.from(res.key) }, `the data key from ${address}`));
      } catch (e) {
        reject(e);
      }
    });
  });
}
