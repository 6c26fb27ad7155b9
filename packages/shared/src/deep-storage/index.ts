import { LocalDeepStorage } from './local.js';
import { S3DeepStorage } from './s3.js';
import type { DeepStorage, LocalConfig, LocalLimits, S3Config, S3Limits } from './types.js';

export { DeepStorageError } from './errors.js';
export type { DeepStorageErrorCode } from './errors.js';
export { isValidKey, KEY_BYTES_MAX, KEY_SEGMENT_BYTES_MAX, SEGMENT_KEY_SUFFIX, segmentKey, segmentKeyPrefix, TEMP_PREFIX, validateKey } from './keys.js';
export { sha256Hex } from './checksum.js';
export { mapBounded } from './bounded.js';
export { LocalDeepStorage } from './local.js';
export { S3DeepStorage } from './s3.js';
export { DEFAULT_LOCAL_LIMITS, DEFAULT_S3_LIMITS } from './types.js';
export type { DeepStorage, LocalConfig, LocalLimits, S3Config, S3Limits } from './types.js';

/**
 * The deep storage a cluster file's `deepStorage` describes.
 *
 * @example createDeepStorage({ type: 'local', path: '/var/lib/cairn/deep' })
 * @example createDeepStorage({ type: 's3', bucket: 'cairn', prefix: 'prod', region: 'eu-west-1', forcePathStyle: false })
 */
export function createDeepStorage(config: LocalConfig | S3Config, limits: Partial<LocalLimits & S3Limits> = {}): DeepStorage {
  switch (config.type) {
    case 'local': {
      const local: { -readonly [K in keyof LocalLimits]?: LocalLimits[K] } = {};
      if (limits.objectBytesMax !== undefined) local.objectBytesMax = limits.objectBytesMax;
      if (limits.copyThreadsMax !== undefined) local.copyThreadsMax = limits.copyThreadsMax;
      if (limits.copyChunkBytes !== undefined) local.copyChunkBytes = limits.copyChunkBytes;
      return new LocalDeepStorage(config, local);
    }
    case 's3':
      return new S3DeepStorage(config, limits);
    default:
      throw new Error(`unknown deep storage type ${JSON.stringify((config as { type: unknown }).type)}`);
  }
}
