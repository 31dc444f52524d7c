// SSZ merkleization and compute_domain / compute_signing_root written out by hand with node:crypto, as
// a reference that shares no code with any SSZ library.
import { createHash } from "node:crypto";

export const sha256 = (...parts: Buffer[]) => createHash("sha256").update(Buffer.concat(parts)).digest();

/** hex (no 0x) right-padded with zeros to one 32-byte chunk. */
export const chunk = (hex: string) => Buffer.concat([Buffer.from(hex, "hex"), Buffer.alloc(32)]).subarray(0, 32);

export const uint64Chunk = (n: bigint) => {
  const b = Buffer.alloc(32);
  b.writeBigUInt64LE(n);
  return b;
};

/** Merkle root of chunks, padded with zero chunks to a power of two. */
export function merkleize(chunks: Buffer[]): Buffer {
  let layer = [...chunks];
  while (layer.length & (layer.length - 1)) layer.push(Buffer.alloc(32));
  while (layer.length > 1) layer = Array.from({ length: layer.length / 2 }, (_, i) => sha256(layer[2 * i] as Buffer, layer[2 * i + 1] as Buffer));
  return layer[0] as Buffer;
}

/** Root of a byte vector longer than 32 bytes (e.g. a 96-byte signature), given as hex. */
export const bytesRoot = (hex: string) => merkleize((hex.match(/.{1,64}/g) ?? []).map(chunk));

/** compute_signing_root(object, compute_domain(domainType, version, gvr)), all hex without 0x; returns 0x-hex. */
export function signingRoot(objectRoot: Buffer, domainType: string, version: string, gvr: string): string {
  const forkDataRoot = merkleize([chunk(version), chunk(gvr)]);
  const domain = Buffer.concat([Buffer.from(domainType, "hex"), forkDataRoot.subarray(0, 28)]);
  return `0x${sha256(objectRoot, domain).toString("hex")}`;
}
