import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import { HttpError, readBody, sendError } from "@strongroom/enclave";
import type { Logger } from "pino";
import type { Dispatcher } from "undici";
import type { GatewayMetrics } from "./metrics.ts";
import { ConnectFailure, describeError, type Upstream, type UpstreamSet } from "./upstream.ts";

/** Above the signer's largest body (32 MiB of Key Manager imports), so that the signer's own 413 is what a client sees. */
const MAX_BODY_BYTES = 48 << 20;

/** Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are forwarded neither way. */
const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"];
/** Nor are Expect (the gateway answers 100-continue itself) and a request's Content-Length (undici states the length of the body it sends). */
const NOT_FORWARDED_REQUEST = new Set([...HOP_BY_HOP, "expect", "content-length"]);
const NOT_FORWARDED_RESPONSE = new Set(HOP_BY_HOP);

/**
 * The validator client's side: every request goes, unchanged but for
 * hop-by-hop headers, to an upstream over verified aTLS, and the answer comes
 * back the same way. A request is read whole first so that, when a connection
 * to one signer fails before carrying anything, another can take it.
 * Requests that fail after that are not retried: whether the signer acted on
 * them is unknown.
 */
export function createProxy(upstreams: UpstreamSet, log: Logger, metrics: GatewayMetrics): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const started = performance.now();
    let upstreamName = "none";
    res.once("finish", () => {
      metrics.countRequest(upstreamName, res.statusCode);
      // Method, path and status only: headers carry the validator client's token.
      if (log.isLevelEnabled("info")) {
        log.info({ method: req.method, path: pathOf(req), upstream: upstreamName, status: res.statusCode, ms: Number((performance.now() - started).toFixed(2)) }, "request");
      }
    });
    void forward(upstreams, req, res, (name) => (upstreamName = name)).catch((error: unknown) => {
      if (error instanceof HttpError) {
        sendError(res, error);
        return;
      }
      log.error({ err: error, method: req.method, path: pathOf(req) }, "unexpected error while forwarding a request");
      sendError(res, new HttpError(500, "internal error; see the gateway's log"));
    });
  };
}

async function forward(upstreams: UpstreamSet, req: IncomingMessage, res: ServerResponse, chosen: (name: string) => void): Promise<void> {
  const path = req.url ?? "/";
  if (!path.startsWith("/")) throw new HttpError(400, "the gateway takes requests for a path (origin form, /…), not for a URL");
  const body = await readBody(req, MAX_BODY_BYTES);
  const request: Dispatcher.DispatchOptions = { method: req.method as Dispatcher.HttpMethod, path, headers: forwardedHeaders(req.rawHeaders), ...(body.length > 0 && { body }) };
  const failures: ConnectFailure[] = [];
  for (const upstream of upstreams.candidates()) {
    // Named before the answer is complete, for the request's log line.
    chosen(upstream.name);
    try {
      await relay(upstream, request, res);
      return;
    } catch (error) {
      if (error instanceof ConnectFailure) {
        failures.push(error);
        continue;
      }
      if (error instanceof CutOff) throw new HttpError(502, `the answer from ${upstream.name} was cut off: ${describeError(error.cause)}`);
      // Node's parser admitted the request, so undici refusing its arguments is a bug here, not the signer's failure.
      if ((error as { code?: string }).code === "UND_ERR_INVALID_ARG") throw error;
      upstream.markDown(`${upstream.name} failed while answering: ${describeError(error)}`);
      throw new HttpError(502, `the signer at ${upstream.name} failed while answering: ${describeError(error)}`);
    }
  }
  // Nothing was sent anywhere. A signer that failed attestation is the answer that matters.
  chosen("none");
  const refused = failures.some((failure) => failure.refused);
  const reasons = failures.map((failure) => failure.message).join("; ");
  throw refused
    ? new HttpError(502, `refused to forward the request: ${reasons}`)
    : new HttpError(503, `no signer can be reached: ${reasons}`, { "retry-after": "1" });
}

/** The upstream's answer failed after it had begun to reach the client. */
class CutOff extends Error {}

/**
 * Sends the request to one upstream and relays its answer as it arrives,
 * straight into the client's response (no intermediate stream): resolves when
 * it is complete; rejects with the upstream's error before the answer
 * starts (nothing was relayed), with a CutOff after.
 */
function relay(upstream: Upstream, request: Dispatcher.DispatchOptions, res: ServerResponse): Promise<void> {
  return new Promise((resolve, reject) => {
    let started = false;
    upstream.pool.dispatch(request, {
      onRequestStart() {},
      onResponseStart(_controller, statusCode, headers) {
        started = true;
        res.writeHead(statusCode, endToEnd(headers));
      },
      onResponseData(controller, chunk) {
        if (res.write(chunk)) return;
        // The client reads slowly: hold the upstream until it catches up, or let it go if the client leaves.
        controller.pause();
        const resume = () => {
          res.off("close", abandon);
          controller.resume();
        };
        const abandon = () => {
          res.off("drain", resume);
          controller.abort(new Error("the validator client closed the connection"));
        };
        res.once("drain", resume).once("close", abandon);
      },
      onResponseEnd() {
        res.end();
        resolve();
      },
      onResponseError(_controller, error) {
        reject(started ? new CutOff(error.message, { cause: error }) : error);
      },
    });
  });
}

/** The request's headers as received (names, order and repeats kept), less those of this one connection. */
function forwardedHeaders(raw: readonly string[]): string[] {
  const connectionTokens = new Set<string>();
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === "connection") for (const token of raw[i + 1]!.split(",")) connectionTokens.add(token.trim().toLowerCase());
  }
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (!NOT_FORWARDED_REQUEST.has(name) && !connectionTokens.has(name)) out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

/** The response's headers less hop-by-hop ones; Node frames the body for the client's connection. */
function endToEnd(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const connectionTokens = new Set(String(headers["connection"] ?? "").split(",").map((token) => token.trim().toLowerCase()));
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !NOT_FORWARDED_RESPONSE.has(name) && !connectionTokens.has(name)) out[name] = value;
  }
  return out;
}

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? "/";
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
}
