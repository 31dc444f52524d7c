// An undici dispatcher for TypeScript clients (Lodestar, scripts): undici's
// Agent — keep-alive, pooling, retries of idempotent requests as undici does
// them — with every new connection made and verified by connectAtls.
import { Agent, type Dispatcher } from "undici";
import { connectVerified } from "./connect.ts";
import { verifySettings, type AtlsVerifyOptions } from "./verify.ts";

export interface AtlsDispatcherOptions extends AtlsVerifyOptions {
  /** Ask each new connection for a fresh, channel-bound document too. */
  readonly fresh?: boolean;
  /** Most connections per origin; default unlimited, as undici's. */
  readonly connections?: number;
  /** For each connection's handshake and verification; default 10 s. */
  readonly timeoutMs?: number;
}

/** An Agent for https:// URLs of aTLS servers; a refused server fails the request with AtlsVerificationError. */
export function createAtlsDispatcher(options: AtlsDispatcherOptions): Dispatcher {
  const settings = verifySettings(options);
  return new Agent({
    ...(options.connections !== undefined && { connections: options.connections }),
    connect({ protocol, hostname, port, servername }, callback) {
      if (protocol !== "https:") {
        callback(new TypeError(`aTLS serves https: URLs only, not ${protocol}`), null);
        return;
      }
      connectVerified(
        {
          host: hostname,
          port: port === "" ? 443 : Number(port),
          ...(servername && { servername }),
          ...(options.fresh !== undefined && { fresh: options.fresh }),
          ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }),
        },
        settings,
      ).then(
        ({ socket }) => callback(null, socket),
        (error: Error) => callback(error, null),
      );
    },
  });
}
