import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { Scope } from "../auth/index.ts";
import { openCaller, type AccessControl, type Caller } from "../pipeline/access.ts";
import type { Admission } from "../pipeline/admission.ts";
import { HttpError } from "./errors.ts";
import { sendError } from "./respond.ts";

/** What a handler learns about a request that the per-request log line and metrics report (public values only). */
export interface RequestInfo {
  type?: string;
  publicKey?: string;
  /** The id of the token that authenticated the request (never the token). */
  tokenId?: string;
}

export interface RequestContext {
  /** The path's capture groups, percent-decoded. */
  readonly params: readonly string[];
  readonly info: RequestInfo;
  /** Who is asking; for open routes, a caller with no policies. */
  readonly caller: Caller;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, request: RequestContext) => void | Promise<void>;

export interface Route {
  /** The route's name in logs and metrics. */
  readonly name: string;
  readonly method: string;
  /** Anchored pattern over the path; its capture groups become the handler's params. */
  readonly path: RegExp;
  readonly handler: Handler;
  /** The scope a caller needs; without one the route is open to anyone (`/upcheck`, `/healthcheck`). */
  readonly scope?: Scope;
  /**
   * The scope is granted per validator key (and signing type): the router
   * only authenticates, and the handler decides for each key with
   * AccessControl.require / permits. Otherwise the router decides.
   */
  readonly perKey?: boolean;
  /** Wait for a place (backpressure) before anything else, authentication included. */
  readonly admission?: boolean;
}

export interface RouterOptions {
  readonly log: Logger;
  readonly access: AccessControl;
  readonly admission: Admission;
  readonly onAnswered: (route: string, info: RequestInfo, status: number) => void;
}

/**
 * Dispatches by method and path, running the front of the pipeline
 * (DESIGN.md §4): backpressure, then authentication and, for routes not
 * decided per key, policy. Every client-caused failure is an HttpError;
 * anything else is a bug, logged and answered without detail.
 */
export function createRouter(routes: readonly Route[], options: RouterOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { log, onAnswered } = options;
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
    void dispatch(routes, options, req, res, info, (name) => (route = name)).catch((error: unknown) => {
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
  { access, admission }: RouterOptions,
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
    const params = match.slice(1).map((p) => decodeSegment(p ?? ""));
    const release = route.admission ? await admission.admit((listener) => res.once("close", listener)) : undefined;
    try {
      const caller = route.scope === undefined ? openCaller(req) : access.authenticate(req);
      if (caller.tokenId !== undefined) info.tokenId = caller.tokenId;
      if (route.scope !== undefined && !route.perKey) access.require(caller, route.scope);
      await route.handler(req, res, { params, info, caller });
    } finally {
      release?.();
    }
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
