import type { Socket } from "node:net";
import type { VsockAddress } from "../native.ts";

// A Unix socket cannot tell its listener who connected, as vsock accept()
// does. So the simulated transport's connector opens every stream with a
// fixed 12-byte preamble, which the listener strips before handing the
// stream over:
//
//   "VSIM" (4 ASCII bytes) ‖ connector's CID (uint32 BE) ‖ connector's port (uint32 BE)
//
// A connection that does not start with a whole, well-formed preamble within
// PREAMBLE_TIMEOUT_MS is dropped.

const PREAMBLE_LENGTH = 12;
const MAGIC = Buffer.from("VSIM", "latin1");
const PREAMBLE_TIMEOUT_MS = 5_000;

export function encodePreamble(from: VsockAddress): Buffer {
  const preamble = Buffer.alloc(PREAMBLE_LENGTH);
  MAGIC.copy(preamble, 0);
  preamble.writeUInt32BE(from.cid, 4);
  preamble.writeUInt32BE(from.port, 8);
  return preamble;
}

/** The connector's address, or null when these bytes are not a preamble. */
function decodePreamble(bytes: Buffer): VsockAddress | null {
  if (bytes.length !== PREAMBLE_LENGTH || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) return null;
  return { cid: bytes.readUInt32BE(4), port: bytes.readUInt32BE(8) };
}

/**
 * Takes the preamble off a just-accepted socket and calls `done` once: with
 * the connector's address (the bytes after the preamble stay buffered for the
 * next reader), or with null when the connection failed, ended early, timed
 * out or sent something else.
 */
export function readPreamble(socket: Socket, done: (from: VsockAddress | null) => void): void {
  const finish = (from: VsockAddress | null) => {
    socket.off("readable", onReadable).off("end", onFailure).off("error", onFailure).off("timeout", onFailure);
    socket.setTimeout(0);
    done(from);
  };
  const onReadable = () => {
    // null until all 12 bytes are there; fewer only once the stream has ended.
    const bytes = socket.read(PREAMBLE_LENGTH) as Buffer | null;
    if (bytes !== null) finish(decodePreamble(bytes));
  };
  const onFailure = () => finish(null);
  socket.on("readable", onReadable).once("end", onFailure).once("error", onFailure).once("timeout", onFailure);
  socket.setTimeout(PREAMBLE_TIMEOUT_MS);
}
