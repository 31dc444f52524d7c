// One HTTP exchange with a local credential endpoint (IMDS, the ECS or EKS Pod Identity agent):
// a whole-exchange deadline, a bounded body, no redirects, and never a proxy — node:http with an
// agent of our own, so neither HTTP_PROXY under NODE_USE_ENV_PROXY nor a global fetch dispatcher
// can send an instance's credentials through a third host.
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import type { CredentialSourceName } from "./credentials.ts";

/** Why a source could not produce credentials. */
export type CredentialFailure =
  /** Nobody answered: connection refused or reset, no route, DNS. */
  | "unreachable"
  /** The exchange did not finish within the source's deadline. */
  | "timeout"
  /** The endpoint answered with an HTTP error status (see `status`). */
  | "http-status"
  /** The endpoint answered 2xx with something that is not credentials. */
  | "malformed"
  /** IMDS: the instance has no IAM role attached. */
  | "no-role"
  /** The source is not configured well enough to ask (environment variables, token file). */
  | "configuration"
  /** The caller stopped the request. */
  | "aborted";

export class CredentialSourceError extends Error {
  override readonly name = "CredentialSourceError";
  readonly source: CredentialSourceName;
  readonly reason: CredentialFailure;
  /** The HTTP status, for `http-status` and `no-role`. */
  readonly status: number | undefined;

  constructor(source: CredentialSourceName, reason: CredentialFailure, message: string, options?: { status?: number; cause?: unknown }) {
    super(`${source} credentials: ${message}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.source = source;
    this.reason = reason;
    this.status = options?.status;
  }
}

export interface HttpReply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface HttpExchange {
  readonly method: "GET" | "PUT";
  readonly headers?: Readonly<Record<string, string>>;
  /** Deadline for the whole exchange: connect, send, answer and body. */
  readonly timeoutMs: number;
  /** Longer bodies are refused as `malformed` without reading further. */
  readonly maxBodyBytes: number;
  readonly signal?: AbortSignal | undefined;
}

// No keep-alive: credential endpoints are asked a few times an hour, and an idle pooled socket
// would only hold the process open.
const httpAgent = new HttpAgent({ keepAlive: false });
const httpsAgent = new HttpsAgent({ keepAlive: false });

/** Sends one request and reads the whole reply; any status is a reply, only transport failures throw. */
export function exchange(source: CredentialSourceName, url: URL, options: HttpExchange): Promise<HttpReply> {
  const fail = (reason: CredentialFailure, message: string, cause?: unknown) => new CredentialSourceError(source, reason, message, { cause });
  if (options.signal?.aborted) return Promise.reject(fail("aborted", "request cancelled"));
  const secure = url.protocol === "https:";
  return new Promise<HttpReply>((resolve, reject) => {
    let settled = false;
    const finish = (outcome: { reply: HttpReply } | { error: CredentialSourceError }) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      options.signal?.removeEventListener("abort", onAbort);
      if ("reply" in outcome) resolve(outcome.reply);
      else {
        req.destroy();
        reject(outcome.error);
      }
    };
    const onAbort = () => finish({ error: fail("aborted", "request cancelled") });
    const deadline = setTimeout(() => finish({ error: fail("timeout", `${url.host} did not answer within ${options.timeoutMs} ms`) }), options.timeoutMs);
    const req = (secure ? httpsRequest : httpRequest)(url, {
      method: options.method,
      headers: { ...options.headers, ...(options.method === "PUT" && { "content-length": "0" }) },
      agent: secure ? httpsAgent : httpAgent,
    });
    options.signal?.addEventListener("abort", onAbort, { once: true });
    req.on("error", (error) => finish({ error: fail("unreachable", `cannot reach ${url.host}: ${(error as NodeJS.ErrnoException).code ?? error.message}`, error) }));
    req.on("response", (res) => {
      const declared = Number(res.headers["content-length"] ?? 0);
      if (declared > options.maxBodyBytes) {
        finish({ error: fail("malformed", `${url.host} sent a body of ${declared} bytes (limit ${options.maxBodyBytes})`) });
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > options.maxBodyBytes) finish({ error: fail("malformed", `${url.host} sent a body over ${options.maxBodyBytes} bytes`) });
        else chunks.push(chunk);
      });
      res.on("error", (error) => finish({ error: fail("unreachable", `${url.host} broke off its answer`, error) }));
      res.on("end", () => finish({ reply: { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") } }));
    });
    req.end();
  });
}
