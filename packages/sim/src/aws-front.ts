// An HTTPS front for one of the simulator's AWS services (dynalite for
// DynamoDB, later the KMS simulator): like the real endpoint, it serves TLS
// under the service's name and refuses every request whose Signature Version
// 4 does not verify against the credentials issued for it, answering as AWS
// does; verified requests go to the plain-HTTP backend and its answers come
// back as they are.
import { randomUUID } from "node:crypto";
import { Agent, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from "node:http";
import { createServer } from "node:https";
import { isIPv6 } from "node:net";
import { listen } from "./listen.ts";
import { readBody } from "./read-body.ts";
import type { ServiceCa } from "./service-ca.ts";
import { AwsRequestError, verifySigV4, type CredentialLookup } from "./sigv4-verifier.ts";

export interface AwsFrontOptions {
  readonly ca: ServiceCa;
  /** The endpoint's names (the first is the URL's host), e.g. dynamodb.us-east-1.sim.strongroom.internal. */
  readonly names: readonly string[];
  /** The service's plain-HTTP URL, e.g. http://127.0.0.1:<port> of dynalite. */
  readonly backend: URL;
  readonly region: string;
  /** The SigV4 signing name, e.g. "dynamodb" or "kms". */
  readonly service: string;
  readonly lookup: CredentialLookup;
  /** The clock that expiry and skew are judged by. */
  readonly now?: () => Date;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 0: a free port. */
  readonly port?: number;
}

export interface AwsRejection {
  /** The error code and message the client was answered with (never credentials or payloads). */
  readonly reason: string;
  readonly at: Date;
}

export interface AwsFront {
  /** https://<first name>:<port>: the endpoint a client configures. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The requests refused so far, oldest first (the most recent MAX_REJECTIONS_KEPT). */
  rejected(): AwsRejection[];
  /** Stops listening and destroys every open connection. */
  close(): Promise<void>;
}

/** Request bodies above this are refused unread (DynamoDB's own request limit is 16 MB). */
const MAX_BODY_BYTES = 16 * 1024 * 1024;
const MAX_REJECTIONS_KEPT = 1000;
/** Headers that describe one connection, not the message (RFC 9110 §7.6.1), and are not forwarded. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"]);

export async function startAwsFront(options: AwsFrontOptions): Promise<AwsFront> {
  if (options.backend.protocol !== "http:") throw new RangeError(`the backend of an AWS front is a plain-HTTP URL, not ${options.backend.protocol}`);
  const now = options.now ?? (() => new Date());
  const { keyPem, certificatePem } = options.ca.issueServerCertificate(options.names);
  const agent = new Agent({ keepAlive: true });
  const rejections: AwsRejection[] = [];

  const refuse = (request: IncomingMessage, response: ServerResponse, status: number, code: string, message: string) => {
    rejections.push({ reason: `${code}: ${message}`, at: now() });
    if (rejections.length > MAX_REJECTIONS_KEPT) rejections.shift();
    sendError(request, response, { status, code, message, date: now() });
  };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const body = await readBody(request, { maxBytes: MAX_BODY_BYTES });
    if (body === "closed") return;
    if (body === "too large") {
      refuse(request, response, 413, "RequestEntityTooLargeException", `The request body is larger than ${MAX_BODY_BYTES} bytes.`);
      return;
    }
    try {
      await verifySigV4({ method: request.method ?? "", target: request.url ?? "", rawHeaders: request.rawHeaders, body }, { region: options.region, service: options.service, lookup: options.lookup, now: now() });
    } catch (error) {
      if (!(error instanceof AwsRequestError)) throw error;
      refuse(request, response, 400, error.code, error.message);
      return;
    }
    forward(request, body, response, options.backend, agent, now);
  };

  const server = createServer({ key: keyPem, cert: certificatePem, minVersion: "TLSv1.2" }, (request, response) => {
    response.on("error", () => response.destroy());
    handle(request, response).catch(() => {
      // An unexpected failure (a throwing lookup, say) is the front's fault, never a crash.
      if (response.headersSent) response.destroy();
      else sendError(request, response, { status: 500, code: "InternalFailure", message: "The request processing has failed.", date: now() });
    });
  });
  const { host, port } = await listen(server, options);
  const first = options.names[0]!;
  return {
    url: `https://${isIPv6(first) ? `[${first}]` : first}:${port}`,
    host,
    port,
    rejected: () => [...rejections],
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      agent.destroy();
      await closed;
    },
  };
}

/** Sends the verified request to the backend and streams its answer back. */
function forward(request: IncomingMessage, body: Buffer, response: ServerResponse, backend: URL, agent: Agent, now: () => Date): void {
  // The body is whole here, so its length replaces whatever framing the client used.
  const headers = [...dropHeader(withoutHopByHop(request.rawHeaders), "content-length"), "content-length", String(body.length)];
  const upstream = httpRequest({
    host: backend.hostname.replace(/^\[|\]$/g, ""),
    port: backend.port === "" ? 80 : Number(backend.port),
    method: request.method,
    path: request.url,
    headers,
    agent,
  });
  upstream.on("response", (answer) => {
    answer.on("error", () => response.destroy());
    response.writeHead(answer.statusCode ?? 502, withoutHopByHop(answer.rawHeaders));
    answer.pipe(response);
  });
  // A client that leaves mid-answer frees the backend connection too.
  response.once("close", () => {
    if (!response.writableFinished) upstream.destroy();
  });
  upstream.on("error", () => {
    if (response.headersSent) response.destroy();
    else sendError(request, response, { status: 503, code: "ServiceUnavailableException", message: "The service is unavailable.", date: now() });
  });
  upstream.end(body);
}

/** Raw headers without the hop-by-hop ones, nor those the Connection header names. */
function withoutHopByHop(rawHeaders: readonly string[]): string[] {
  const named = new Set(HOP_BY_HOP);
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === "connection") for (const token of rawHeaders[i + 1]!.split(",")) named.add(token.trim().toLowerCase());
  }
  return pairsWhere(rawHeaders, (name) => !named.has(name.toLowerCase()));
}

function dropHeader(rawHeaders: readonly string[], dropped: string): string[] {
  return pairsWhere(rawHeaders, (name) => name.toLowerCase() !== dropped);
}

function pairsWhere(rawHeaders: readonly string[], keep: (name: string) => boolean): string[] {
  const kept: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) if (keep(rawHeaders[i]!)) kept.push(rawHeaders[i]!, rawHeaders[i + 1]!);
  return kept;
}

/**
 * An error as AWS's JSON protocols answer it: `{"__type":"com.amazon.coral.service#<Code>","message":…}`.
 * The Date header is the front's clock, from which SDKs correct their skew.
 * A refused body may still be arriving, so the connection is closed after.
 */
function sendError(request: IncomingMessage, response: ServerResponse, error: { status: number; code: string; message: string; date: Date }): void {
  const body = JSON.stringify({ __type: `com.amazon.coral.service#${error.code}`, message: error.message });
  const requestType = request.headers["content-type"];
  const headers: OutgoingHttpHeaders = {
    "content-type": requestType === "application/x-amz-json-1.1" ? requestType : "application/x-amz-json-1.0",
    "content-length": Buffer.byteLength(body),
    "x-amzn-requestid": randomUUID(),
    date: error.date.toUTCString(),
  };
  if (!request.complete) headers["connection"] = "close";
  response.writeHead(error.status, headers);
  response.end(body);
}
