// The one byte pipe of the parent: ingress, egress and nothing else join an
// outside stream (TCP) to an enclave stream (vsock) through here.
import { type Duplex, pipeline } from "node:stream";
import type { AuditConnection } from "./audit.ts";

export interface RelayOptions {
  /** The stream whose far end is the enclave (vsock). */
  readonly enclave: Duplex;
  /** The stream whose far end is outside (a client, or a host the enclave reaches). */
  readonly outside: Duplex;
  /** Records every chunk, each in its direction. */
  readonly audit?: AuditConnection | undefined;
  /**
   * Called once: when both directions have ended (undefined), or when either
   * stream failed or was closed before its direction ended (that error; both
   * streams are destroyed by then).
   */
  readonly onClose?: (error: Error | undefined) => void;
}

/**
 * Joins `enclave` and `outside` both ways, with backpressure. Ending one
 * direction ends only that direction (half-close): the other keeps flowing
 * until it ends too. An error on either stream, or either closing early,
 * destroys both.
 */
export function relay({ enclave, outside, audit, onClose }: RelayOptions): void {
  let directionsOpen = 2;
  let reported = false;
  const directionDone = (error: Error | null | undefined) => {
    directionsOpen--;
    if (reported || (error == null && directionsOpen > 0)) return;
    reported = true;
    if (error != null) {
      enclave.destroy();
      outside.destroy();
    }
    onClose?.(error ?? undefined);
  };
  // pipeline leaves a stream open once its own side is done (a source once read
  // to its end, a destination once finished), which is what keeps the other
  // direction alive; and it destroys both of its streams on a failure.
  pipeline(outside, enclave, directionDone);
  pipeline(enclave, outside, directionDone);
  // A late 'error' (a reset after both pipelines are done) has nothing left to
  // report and must not crash the parent.
  for (const stream of [enclave, outside]) stream.on("error", () => {});
  if (audit !== undefined) {
    outside.on("data", (chunk: Buffer) => audit.toEnclave(chunk));
    enclave.on("data", (chunk: Buffer) => audit.fromEnclave(chunk));
  }
}
