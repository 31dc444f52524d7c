// The ingress proxy: validator clients connect over TCP to the parent, which
// relays each connection as raw bytes (TLS that only the enclave can read) to
// the enclave's API port over vsock.
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { ENCLAVE_PORTS } from "@strongroom/control";
import { encodeProxyV2, type Transport, type TransportStream } from "@strongroom/nitro";
import type { Logger } from "pino";
import type { AuditRecorder } from "./audit.ts";
import { formatHostPort } from "./egress.ts";
import { relay } from "./pipe.ts";

export interface IngressOptions {
  /** The TCP address to listen on. */
  readonly host: string;
  /** 0 lets the system choose; Ingress.port says which. */
  readonly port: number;
  readonly transport: Transport;
  /** The enclave's CID, or undefined while no enclave runs: connections are then refused. */
  readonly enclaveCid: () => number | undefined;
  /** The enclave's API port (5000). */
  readonly enclavePort?: number;
  /**
   * Opens every stream to the enclave with a PROXY protocol v2 header naming
   * the client and this listener, so that the enclave can apply source-address
   * rules. The enclave has only the parent's word for it.
   */
  readonly proxyProtocol: boolean;
  /** Records every relayed byte (channel "ingress"), for tests. */
  readonly audit?: AuditRecorder | undefined;
  readonly log: Logger;
  /** How long a vsock connect to the enclave may take before the client is turned away (5 s). */
  readonly connectTimeoutMs?: number;
}

export interface Ingress {
  /** host:port this listens on (the real port when 0 was asked). */
  readonly url: string;
  readonly port: number;
  /** Client connections open now, relayed or still being connected to the enclave. */
  connections(): number;
  /** Stops listening and destroys every open connection. */
  close(): Promise<void>;
}

const DEFAULT_ENCLAVE_PORT = ENCLAVE_PORTS.api;
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

export async function startIngress(options: IngressOptions): Promise<Ingress> {
  const clients = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (client) => {
    clients.add(client);
    client.once("close", () => clients.delete(client));
    relayToEnclave(client, options).catch((error: unknown) => {
      client.destroy();
      options.log.error({ reason: (error as Error).message }, "ingress: relaying a connection failed");
    });
  });
  try {
    await listen(server, options.host, options.port);
  } catch (cause) {
    throw new Error(`ingress: cannot listen on ${formatHostPort(options.host, options.port)}: ${(cause as Error).message}; choose a free port or another address`, { cause });
  }
  // Once listening, a server reports only accept failures (EMFILE), from which it recovers by itself.
  server.on("error", (error) => options.log.warn({ reason: error.message }, "ingress: accepting a connection failed"));
  const { address, port } = server.address() as AddressInfo;
  options.log.info({ listen: formatHostPort(address, port), enclavePort: options.enclavePort ?? DEFAULT_ENCLAVE_PORT, proxyProtocol: options.proxyProtocol }, "ingress listening");

  return {
    url: formatHostPort(address, port),
    port,
    connections: () => clients.size,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const client of clients) client.destroy();
      await closed;
    },
  };
}

async function relayToEnclave(client: Socket, options: IngressOptions): Promise<void> {
  // The client may reset while the enclave is being reached; relay() listens from then on.
  client.on("error", () => {});
  const { remoteAddress, remotePort, localAddress, localPort } = client;
  if (remoteAddress === undefined || remotePort === undefined || localAddress === undefined || localPort === undefined) {
    client.destroy(); // gone before it could be looked at
    return;
  }
  const clientLabel = formatHostPort(remoteAddress, remotePort);
  const cid = options.enclaveCid();
  const port = options.enclavePort ?? DEFAULT_ENCLAVE_PORT;
  let enclave: TransportStream;
  try {
    if (cid === undefined) throw new Error("no enclave is running (no enclave CID yet)");
    enclave = await connectWithin(options.transport, cid, port, options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
  } catch (error) {
    // Turned away at once, so that the client can retry elsewhere instead of waiting on a dead end.
    client.destroy();
    options.log.warn({ client: clientLabel, enclave: cid === undefined ? undefined : `${cid}:${port}`, code: (error as { code?: unknown }).code, reason: (error as Error).message }, "ingress: the enclave is unreachable; client connection closed");
    return;
  }
  if (client.destroyed) {
    enclave.destroy(); // the client left, or the ingress closed, while the enclave was being reached
    return;
  }
  const audit = options.audit?.connection("ingress");
  if (options.proxyProtocol) {
    const header = encodeProxyV2({ source: { address: remoteAddress, port: remotePort }, destination: { address: localAddress, port: localPort } });
    audit?.toEnclave(header);
    enclave.write(header);
  }
  relay({
    enclave,
    outside: client,
    audit,
    onClose: (error) => options.log.debug({ client: clientLabel, reason: error?.message }, "ingress connection closed"),
  });
}

/** A stream to cid:port, or a rejection when the transport fails or takes longer than `timeoutMs`. */
function connectWithin(transport: Transport, cid: number, port: number, timeoutMs: number): Promise<TransportStream> {
  return new Promise((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      reject(Object.assign(new Error(`vsock connect to CID ${cid} port ${port} took longer than ${timeoutMs} ms`), { code: "ETIMEDOUT" }));
    }, timeoutMs);
    transport.connect(cid, port).then(
      (stream) => {
        clearTimeout(timer);
        if (timedOut) stream.destroy();
        else resolve(stream);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject).listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}
