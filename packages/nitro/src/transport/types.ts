import type { Duplex } from "node:stream";

/** A connected byte stream between two vsock endpoints. */
export interface TransportStream extends Duplex {
  /** The other side's CID and port: for an accepted stream, the connecting side's. */
  readonly remoteCid: number;
  readonly remotePort: number;
}

export interface TransportServer {
  readonly port: number;
  /** Stops listening (idempotent); streams already handed over stay open. */
  close(): Promise<void>;
}

/**
 * vsock as the code above the transport sees it: real AF_VSOCK in an enclave
 * and on its parent, Unix sockets in the simulator. Both behave alike:
 * streams are half-open (ending one direction leaves the other open), a
 * failed connect rejects with a VsockError whose `code` is the errno name,
 * a taken port is EADDRINUSE.
 */
export interface Transport {
  readonly kind: "vsock" | "simulated";
  /** Listens on `port` at this side's own CID. */
  listen(port: number, onConnection: (stream: TransportStream) => void): Promise<TransportServer>;
  connect(cid: number, port: number): Promise<TransportStream>;
}
