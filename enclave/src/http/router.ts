import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { HttpError } from "./errors.ts";
import { sendError } from "./respond.ts";

/** What a handler learns about a request that the per-request log line and metrics report (public values only). */
export interface RequestInfo {
  type?: string;
  publicKey?: string;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, params: readonly string[], info: RequestInfo) => void | Promise<void>;

export interface Route {
  /** The route's name in logs and metrics. */
  readonly name: string;
  readonly method: string;
  /** Anchored pattern over the path; its capture groups become the handler's params. */
  readonly path: RegExp;
  readonly handler: Handler;
}

/**
 * Dispatches by method and path. Every client-caused failure is an HttpError;
 * anything else is a bug, logged and answered without detail.
 */
export function createRouter(
  routes: readonly Route[],
  log: Logger,
  onAnswered: (route: string, info: RequestInfo, status: number) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const started = performance.now();
    const info: RequestInfo = {};
    let route = "unknown";
    res.once("finish", () => {
        onAnswered(route, info, res.statusCode);
      // Building the line costs more than the signer can spare per request when nobody reads it.
      if (log.isLevelEnabled("info")) {
        log.info({ route, method: req.method, ...info, status: res.statusCode, ms: Number((performance.now() - started).toFixed(2)) }, "request");
      }
    });
    void dispatch(routes, req, res, info, (name) => (route = name)).catch((error: unknown) => {
      if (error instanceof HttpError) {
        sendError(res, error);
        return;
      }
      log.error({ err: error, method: req.method, path: pathOf(req) }, "unexpected error while handling a request");
      sendError(res, new HttpError(500, "internal error; see the signer's log"));
    });
  };
}

async function dispatch(
  routes: readonly Route[],
  req: IncomingMessage,
  res: ServerResponse,
  info: RequestInfo,
  matched: (name: string) => void,
): Promise<void> {
  const path = pathOf(req);
  let pathMatched = false;
  for (const route of routes) {
    const match = route.path.exec(path);
    if (match === null) continue;
    pathMatched = true;
    if (route.method !== req.method) continue;
    matched(route.name);
    await route.handler(req, res, match.slice(1).map((p) => decodeSegment(p ?? "")), info);
    return;
  }
  if (pathMatched) throw new HttpError(405, `method ${req.method} is not allowed on ${path}`);
  throw new HttpError(404, `no such endpoint: ${path.slice(0, 200)}`);
}

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? "/";
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, "malformed percent-encoding in the request path");
  }
}
