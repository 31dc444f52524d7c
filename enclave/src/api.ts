import { createServer, type Server } from "node:http";
import { createRouter, type Route } from "./http/router.ts";
import type { SignerContext } from "./routes/context.ts";
import { handleHealthcheck, handlePublicKeys, handleUpcheck } from "./routes/health.ts";
import { handleDeleteKeystores, handleImportKeystores, handleListKeystores } from "./routes/keymanager.ts";
import { handleSign } from "./routes/sign.ts";

/** The Web3Signer-compatible eth2 API plus the Key Manager API, over plain node:http. */
export function createApiServer(ctx: SignerContext): Server {
  const routes: Route[] = [
    { method: "GET", path: /^\/upcheck$/, handler: (_req, res) => handleUpcheck(res) },
    { method: "GET", path: /^\/healthcheck$/, handler: (_req, res) => handleHealthcheck(ctx, res) },
    { method: "GET", path: /^\/api\/v1\/eth2\/publicKeys$/, handler: (_req, res) => handlePublicKeys(ctx, res) },
    { method: "POST", path: /^\/api\/v1\/eth2\/sign\/([^/]*)$/, handler: (req, res, [id]) => handleSign(ctx, req, res, id!) },
    { method: "GET", path: /^\/eth\/v1\/keystores$/, handler: (_req, res) => handleListKeystores(ctx, res) },
    { method: "POST", path: /^\/eth\/v1\/keystores$/, handler: (req, res) => handleImportKeystores(ctx, req, res) },
    { method: "DELETE", path: /^\/eth\/v1\/keystores$/, handler: (req, res) => handleDeleteKeystores(ctx, req, res) },
  ];
  const server = createServer({ keepAliveTimeout: 65_000, headersTimeout: 20_000, requestTimeout: 60_000 }, createRouter(routes, ctx.log));
  // A client that sends garbage at the HTTP layer gets a 400 and a closed socket, never a crash.
  server.on("clientError", (_error, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
    else socket.destroy();
  });
  return server;
}
