import { createHash } from 'node:crypto';

/** SHA-256 of `bytes`, lowercase hex: the content address of a segment. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** MD5 of `bytes`: base64 for a Content-MD5 header, hex to compare with a single-part ETag. */
export function md5(bytes: Uint8Array): { base64: string; hex: string } {
  const digest = createHash('md5').update(bytes).digest();
  return { base64: digest.toString('base64'), hex: digest.toString('hex') };
}
