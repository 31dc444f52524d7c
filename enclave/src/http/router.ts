import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { HttpError } from "./errors.ts";
import { sendError } from "./respond.ts";

export type Handler = (req: IncomingMessage, res: ServerResponse, params: readonly string[]) => void | Promise<void>;

export interface Route {
  readonly method: string;
  /** Anchored pattern over the path; its capture groups become the handler's params. */
  readonly path: RegExp;
  readonly handler: Handler;
}

/**
 * Dispatches by method and path. Every client-caused failure is an HttpError;
 * anything else is a bug, logged and answered without detail.
 */
export function createRouter(routes: readonly Route[], log: Logger): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void dispatch(routes, req, res).catch((error: unknown) => {
      if (error instanceof HttpError) {
        sendError(res, error);
        return;
      }
      log.error({ err: error, method: req.method, path: pathOf(req) }, "unexpected error while handling a request");
      sendError(res, new HttpError(500, "internal error; see the signer's log"));
    });
  };
}

async function dispatch(routes: readonly Route[], req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = pathOf(req);
  let pathMatched = false;
  for (const route of routes) {
    const match = route.path.exec(path);
    if (match === null) continue;
    pathMatched = true;
    if (route.method !== req.method) continue;
    await route.handler(req, res, match.slice(1).map((p) => decodeSegment(p ?? "")));
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
