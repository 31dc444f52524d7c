// A TLS front for one of the simulator's plaintext TCP services: it
// terminates TLS with a certificate from the service CA and pipes the
// plaintext to the backend. The enclave connects to the front by the
// service's real name and verifies the certificate, as it verifies the real
// service's in nitro mode.
//
// In postgres mode the front first speaks PostgreSQL's encryption negotiation
// (an 8-byte SSLRequest answered with one byte, then the TLS handshake on the
// same connection) and refuses every other start, so no plaintext client ever
// reaches the database through it.
import { connect, createServer, type Socket } from "node:net";
import { createSecureContext, TLSSocket, type SecureContext } from "node:tls";
import { listen } from "./listen.ts";
import type { ServiceCa } from "./service-ca.ts";

export interface TlsFrontOptions {
  readonly ca: ServiceCa;
  /** The names (DNS names, IP addresses) clients verify the certificate against. */
  readonly names: readonly string[];
  readonly backend: { readonly host: string; readonly port: number };
  /** "postgres": PostgreSQL's SSLRequest negotiation before TLS; "raw": TLS from the first byte. */
  readonly protocol: "postgres" | "raw";
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 0: a free port. */
  readonly port?: number;
}

export interface TlsFront {
  readonly host: string;
  readonly port: number;
  /** Stops listening and destroys every open connection. */
  close(): Promise<void>;
}

/** A client has this long to negotiate and complete the TLS handshake before it is disconnected. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

export async function startTlsFront(options: TlsFrontOptions): Promise<TlsFront> {
  const { keyPem, certificatePem } = options.ca.issueServerCertificate(options.names);
  const secureContext = createSecureContext({ key: keyPem, cert: certificatePem, minVersion: "TLSv1.2" });
  const open = new Set<Socket>();
  const track = (socket: Socket) => {
    open.add(socket);
    socket.once("close", () => open.delete(socket));
  };

  const server = createServer((socket) => {
    track(socket);
    socket.on("error", () => socket.destroy());
    socket.setTimeout(HANDSHAKE_TIMEOUT_MS, () => socket.destroy());
    const startTls = () => serveTls(socket, secureContext, options.backend, track);
    if (options.protocol === "postgres") negotiatePostgresTls(socket, startTls);
    else startTls();
  });
  const { host, port } = await listen(server, options);
  return {
    host,
    port,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of open) socket.destroy();
      await closed;
    },
  };
}

/** Runs the TLS server handshake on `socket`; only a client that completes it is connected to the backend. */
function serveTls(socket: Socket, secureContext: SecureContext, backend: TlsFrontOptions["backend"], track: (socket: Socket) => void): void {
  const tls = new TLSSocket(socket, { isServer: true, secureContext, requestCert: false });
  track(tls);
  tls.on("error", () => {
    tls.destroy();
    socket.destroy();
  });
  tls.once("secure", () => {
    socket.setTimeout(0);
    const upstream = connect(backend);
    track(upstream);
    splice(tls, upstream);
  });
}

/** Pipes two sockets into each other; an error on either destroys both, and when one closes the other is ended once its writes are flushed. */
function splice(a: Socket, b: Socket): void {
  a.pipe(b);
  b.pipe(a);
  for (const [socket, other] of [[a, b], [b, a]] as const) {
    socket.on("error", () => {
      socket.destroy();
      other.destroy();
    });
    socket.once("close", () => other.destroySoon());
  }
}

/** PostgreSQL's SSLRequest and GSSENCRequest: Int32 length 8, then an Int32 request code (the protocol's "SSL Session Encryption" and "GSSAPI Session Encryption"). */
const REQUEST_BYTES = 8;
const SSL_REQUEST_CODE = 80877103;
const GSSENC_REQUEST_CODE = 80877104;
/** SQLSTATE invalid_authorization_specification (as a hostssl-only server answers a plaintext client) and protocol_violation. */
const INVALID_AUTHORIZATION = "28000";
const PROTOCOL_VIOLATION = "08P01";

/**
 * Reads the client's first message: an SSLRequest is answered `S` and TLS
 * starts; a GSSENCRequest (once) is answered `N`, as by a server without
 * GSSAPI encryption, and the client may then ask for TLS; anything else (a
 * plaintext StartupMessage or CancelRequest) gets an ErrorResponse and the
 * connection is closed. No more than one read beyond 8 bytes is ever held.
 */
function negotiatePostgresTls(socket: Socket, startTls: () => void): void {
  let received = Buffer.alloc(0);
  let refusedGssEncryption = false;
  const onData = (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    if (received.length < REQUEST_BYTES) return;
    const code = received.readUInt32BE(0) === REQUEST_BYTES ? received.readUInt32BE(4) : undefined;
    const whole = received.length === REQUEST_BYTES;
    if (code === GSSENC_REQUEST_CODE && whole && !refusedGssEncryption) {
      refusedGssEncryption = true;
      received = Buffer.alloc(0);
      socket.write("N");
      return;
    }
    socket.off("data", onData);
    if (code === SSL_REQUEST_CODE && whole) {
      // Paused, so that the ClientHello waits in the socket for the TLS layer.
      socket.pause();
      socket.write("S");
      startTls();
    } else if (code === SSL_REQUEST_CODE) {
      // Bytes sent before the handshake could otherwise be taken as if they came through TLS (CVE-2021-23214).
      refuse(socket, PROTOCOL_VIOLATION, "received unencrypted data after the SSLRequest");
    } else {
      refuse(socket, INVALID_AUTHORIZATION, "this server requires TLS (sslmode=verify-full)");
    }
  };
  socket.on("data", onData);
}

/** Sends a FATAL ErrorResponse and closes; whatever else the client sends is discarded. */
function refuse(socket: Socket, sqlState: string, message: string): void {
  socket.resume();
  socket.end(errorResponse(sqlState, message));
}

/** ErrorResponse: 'E', Int32 length, then fields (a type byte and a NUL-terminated string each), then a NUL. */
function errorResponse(sqlState: string, message: string): Buffer {
  const field = (type: string, value: string) => Buffer.from(`${type}${value}\0`, "utf8");
  const fields = Buffer.concat([field("S", "FATAL"), field("V", "FATAL"), field("C", sqlState), field("M", message), Buffer.of(0)]);
  const header = Buffer.alloc(5);
  header.write("E", 0, "latin1");
  header.writeUInt32BE(4 + fields.length, 1);
  return Buffer.concat([header, fields]);
}
