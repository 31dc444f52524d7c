// The aTLS server: HTTPS over TLS 1.3 only, with the attested identity's key
// and certificate, re-issued on schedule. A rotation installs a new secure
// context for new connections; open connections keep the one they have.
import { createServer, type Server, type ServerOptions } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createSecureContext, type SecureContext, type SecureContextOptions } from "node:tls";
import { AtlsIdentity, type AtlsIdentityOptions } from "./identity.ts";

/** After a failed rotation (the NSM did not answer), try again this soon; the current certificate outlives the delay. */
const RETRY_AFTER_FAILURE_MS = 60_000;

/** Server options aTLS decides itself: the key, the certificate and the TLS version. */
const RESERVED_OPTIONS = ["key", "cert", "pfx", "passphrase", "secureContext", "SNICallback", "minVersion", "maxVersion", "secureProtocol"] as const;

export interface AtlsServerOptions extends AtlsIdentityOptions {
  readonly requestListener: (req: IncomingMessage, res: ServerResponse) => void;
  /** Anything else for https.createServer (timeouts, limits); not the key, certificate or TLS version. */
  readonly serverOptions?: ServerOptions;
  /** Told when a scheduled rotation fails; the server keeps its certificate and tries again within a minute. */
  readonly onRotationError?: (error: unknown) => void;
}

export interface AtlsServer {
  /** Not yet listening: call `listen()`. */
  readonly server: Server;
  readonly identity: AtlsIdentity;
  /**
   * The current key and certificate as a context for a TLS socket made by
   * hand (a stream that did not come through `server`, such as vsock).
   */
  secureContext(): SecureContext;
  /** Stops the rotation schedule (the server itself is closed by its owner). */
  stop(): void;
}

export async function createAtlsServer(options: AtlsServerOptions): Promise<AtlsServer> {
  const serverOptions = options.serverOptions ?? {};
  const reserved = RESERVED_OPTIONS.filter((name) => serverOptions[name] !== undefined);
  if (reserved.length > 0) throw new TypeError(`serverOptions must not set ${reserved.join(", ")}: aTLS chooses the key, the certificate and TLS 1.3 itself`);
  const identity = await AtlsIdentity.create(options);

  // setSecureContext replaces every context option, so each context gets all of them again.
  const contextOptions = (): SecureContextOptions & { key: Buffer } => ({ ...serverOptions, ...identity.secureContextOptions(), minVersion: "TLSv1.3", maxVersion: "TLSv1.3" });
  const first = contextOptions();
  let server: Server;
  try {
    server = createServer(first, options.requestListener);
  } finally {
    first.key.fill(0);
  }
  let context = standaloneContext(identity);
  const stopListening = identity.onRotate(() => {
    const next = contextOptions();
    try {
      server.setSecureContext(next);
    } finally {
      next.key.fill(0);
    }
    context = standaloneContext(identity);
  });

  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const schedule = (delay: number) => {
    timer = setTimeout(() => {
      identity.rotate().then(
        () => !stopped && schedule(identity.rotateEveryMs),
        (error: unknown) => {
          options.onRotationError?.(error);
          if (!stopped) schedule(Math.min(identity.rotateEveryMs, RETRY_AFTER_FAILURE_MS));
        },
      );
    }, delay);
    // The server keeps the process alive while it listens; the schedule alone should not.
    timer.unref();
  };
  schedule(identity.rotateEveryMs);

  return {
    server,
    identity,
    secureContext: () => context,
    stop() {
      stopped = true;
      clearTimeout(timer);
      stopListening();
    },
  };
}

function standaloneContext(identity: AtlsIdentity): SecureContext {
  const options = identity.secureContextOptions();
  try {
    return createSecureContext({ ...options, minVersion: "TLSv1.3", maxVersion: "TLSv1.3" });
  } finally {
    options.key.fill(0);
  }
}
