// Control-channel framing (DESIGN.md §5): each message is a 4-byte big-endian
// length followed by that many bytes of UTF-8 JSON. The length is checked
// against the bound before a single byte of the body is buffered, so a peer
// that announces 4 GiB costs nothing.

/** Larger frames are refused unread: the biggest real message (a bootstrap with 100 egress routes) is a few KiB. */
export const MAX_FRAME_BYTES = 64 * 1024;
const HEADER_BYTES = 4;

export class FrameError extends Error {
  override name = "FrameError";
}

export function encodeFrame(message: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(message), "utf8");
  if (body.length > MAX_FRAME_BYTES) throw new FrameError(`control message of ${body.length} bytes exceeds the ${MAX_FRAME_BYTES}-byte limit`);
  const frame = Buffer.allocUnsafe(HEADER_BYTES + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, HEADER_BYTES);
  return frame;
}

/**
 * Cuts a byte stream into frame bodies. `push` returns the complete bodies
 * so far; it throws FrameError on an oversized length, after which the
 * stream is unusable (the caller closes it: there is no way to resynchronise).
 */
export class FrameDecoder {
  #pending: Buffer = Buffer.alloc(0);
  #failed = false;

  push(chunk: Uint8Array): Buffer[] {
    if (this.#failed) throw new FrameError("the control stream already failed");
    this.#pending = this.#pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.#pending, chunk]);
    const bodies: Buffer[] = [];
    while (this.#pending.length >= HEADER_BYTES) {
      const length = this.#pending.readUInt32BE(0);
      if (length > MAX_FRAME_BYTES) {
        this.#failed = true;
        this.#pending = Buffer.alloc(0);
        throw new FrameError(`control frame announces ${length} bytes, over the ${MAX_FRAME_BYTES}-byte limit`);
      }
      if (this.#pending.length < HEADER_BYTES + length) break;
      bodies.push(this.#pending.subarray(HEADER_BYTES, HEADER_BYTES + length));
      this.#pending = this.#pending.subarray(HEADER_BYTES + length);
    }
    return bodies;
  }

  /** Bytes of an incomplete frame still waiting (nonzero when the stream ends mid-frame). */
  get buffered(): number {
    return this.#pending.length;
  }
}
