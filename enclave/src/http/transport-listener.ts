// The API and metrics servers on vsock (or its simulation) instead of TCP:
// each stream a transport accepts is handed to an ordinary node:http server.
// For the API, TLS is terminated here, in the enclave, with the current aTLS
// context; before it, when the parent says it sends one, comes a PROXY v2
// header with the client's address.
import type { Server } from "node:http";
import type { Duplex } from "node:stream";
import { TLSSocket, type SecureContext } from "node:tls";
import { readProxyV2, type Transport, type TransportServer } from "@strongroom/nitro";
import { setAssertedPeer } from "./peer.ts";

export interface TransportEndpoint {
  readonly transport: Transport;
  readonly port: number;
}

/** A parent that opens a stream and sends no header is cut off this soon. */
const PROXY_HEADER_TIMEOUT_MS = 5_000;

export interface TlsOverTransport extends TransportEndpoint {
  /** Streams start with a PROXY protocol v2 header (the parent's ingress sends one). */
  readonly proxyProtocol: boolean;
  /** The key and certificate for each new connection (they rotate). */
  readonly secureContext: () => SecureContext;
  /** A client that has not finished its TLS handshake by then is cut off. */
  readonly handshakeTimeoutMs: number;
  /** A stream refused before TLS (bad PROXY header): what to log. */
  readonly onRefused: (reason: string) => void;
}

export function serveTlsOverTransport(server: Server, options: TlsOverTransport): Promise<TransportServer> {
  return options.transport.listen(options.port, (stream) => {
    stream.on("error", () => stream.destroy());
    if (!options.proxyProtocol) {
      startTls(server, stream, undefined, options);
      return;
    }
    readProxyV2(stream, PROXY_HEADER_TIMEOUT_MS).then(
      (header) => startTls(server, stream, header.kind === "proxy" ? header.source.address : undefined, options),
      (error: unknown) => {
        options.onRefused(`ingress stream refused: ${(error as Error).message}`);
        stream.destroy();
      },
    );
  });
}

function startTls(server: Server, stream: Duplex, peer: string | undefined, options: TlsOverTransport): void {
  const socket = new TLSSocket(stream, { isServer: true, secureContext: options.secureContext(), requestCert: false });
  if (peer !== undefined) setAssertedPeer(socket, peer);
  socket.on("error", () => socket.destroy());
  const deadline = setTimeout(() => socket.destroy(), options.handshakeTimeoutMs);
  socket.once("secure", () => {
    clearTimeout(deadline);
    server.emit("connection", socket);
  });
  socket.once("close", () => clearTimeout(deadline));
}

/** Plain HTTP on a transport port (metrics: counts only, nothing secret). */
export function servePlainOverTransport(server: Server, endpoint: TransportEndpoint): Promise<TransportServer> {
  return endpoint.transport.listen(endpoint.port, (stream) => {
    stream.on("error", () => stream.destroy());
    server.emit("connection", stream);
  });
}
