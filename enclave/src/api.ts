import { createServer, type Server } from "node:http";
import { createRouter, type Route } from "./http/router.ts";
import type { SignerContext } from "./routes/context.ts";
import { handleHealthcheck, handlePublicKeys, handleUpcheck } from "./routes/health.ts";
import { handleDeleteKeystores, handleImportKeystores, handleListKeystores } from "./routes/keymanager.ts";
import { handleSign } from "./routes/sign.ts";

export interface HttpTimeouts {
  /** A client must have sent all request headers within this time. */
  readonly headersMs: number;
  /** A client must have sent the whole request (headers and body) within this time. */
  readonly requestMs: number;
}

export const DEFAULT_HTTP_TIMEOUTS: HttpTimeouts = { headersMs: 10_000, requestMs: 30_000 };

/** The Web3Signer-compatible eth2 API plus the Key Manager API, over plain node:http. */
export function createApiServer(ctx: SignerContext, timeouts: HttpTimeouts): Server {
  const routes: Route[] = [
    { name: "upcheck", method: "GET", path: /^\/upcheck$/, handler: (_req, res) => handleUpcheck(res) },
    { name: "healthcheck", method: "GET", path: /^\/healthcheck$/, handler: (_req, res) => handleHealthcheck(ctx, res) },
    { name: "public_keys", method: "GET", path: /^\/api\/v1\/eth2\/publicKeys$/, handler: (_req, res) => handlePublicKeys(ctx, res) },
    { name: "sign", method: "POST", path: /^\/api\/v1\/eth2\/sign\/([^/]*)$/, handler: (req, res, [id], info) => handleSign(ctx, req, res, id!, info) },
    { name: "keystores_list", method: "GET", path: /^\/eth\/v1\/keystores$/, handler: (_req, res) => handleListKeystores(ctx, res) },
    { name: "keystores_import", method: "POST", path: /^\/eth\/v1\/keystores$/, handler: (req, res) => handleImportKeystores(ctx, req, res) },
    { name: "keystores_delete", method: "DELETE", path: /^\/eth\/v1\/keystores$/, handler: (req, res) => handleDeleteKeystores(ctx, req, res) },
  ];
  const server = createServer(
    {
      keepAliveTimeout: 65_000,
      headersTimeout: timeouts.headersMs,
      requestTimeout: timeouts.requestMs,
      // Slow clients are cut off close to their deadline, not up to 30 s after it (Node's default check interval).
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, timeouts.headersMs / 4)),
    },
    createRouter(routes, ctx.log, (route, info, status) => ctx.metrics.countRequest(route, info.type ?? "", status)),
  );
  // A client that is too slow or sends garbage at the HTTP layer gets a status and a closed socket, never a crash.
  server.on("clientError", (error: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const status =
      error.code === "ERR_HTTP_REQUEST_TIMEOUT" ? "408 Request Timeout" : error.code === "HPE_HEADER_OVERFLOW" ? "431 Request Header Fields Too Large" : "400 Bad Request";
    socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
  });
  return server;
}
