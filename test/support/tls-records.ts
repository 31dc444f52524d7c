/**
 * The content types of the TLS records that make up `bytes`, in order. Throws
 * at the first byte that does not start a well-formed record (type 20–23,
 * version 3.x, length at most 2^14 + 256), so anything in the clear — a
 * secret, an HTTP request — fails it. A trailing partial record (a stream
 * cut mid-record) is allowed.
 */
export function tlsRecordTypes(bytes: Buffer): number[] {
  const types: number[] = [];
  let at = 0;
  while (at + 5 <= bytes.length) {
    const type = bytes[at]!;
    const length = bytes.readUInt16BE(at + 3);
    if (type < 20 || type > 23 || bytes[at + 1] !== 3 || length > (1 << 14) + 256) {
      throw new Error(`not a TLS record at byte ${at} of ${bytes.length}`);
    }
    types.push(type);
    at += 5 + length;
  }
  return types;
}
