// The instance's role credentials from the EC2 Instance Metadata Service, IMDSv2 only:
//   PUT /latest/api/token (X-aws-ec2-metadata-token-ttl-seconds) → a session token;
//   GET /latest/meta-data/iam/security-credentials/ → the role name;
//   GET /latest/meta-data/iam/security-credentials/<role> → the credential document.
// Every GET carries X-aws-ec2-metadata-token. There is no IMDSv1 fallback: a token-less GET is what
// an SSRF through some other service on the instance can forge, and the parent has no reason to
// ever need it. The session token is kept until shortly before its own TTL runs out and renewed
// once on a 401 (IMDS forgets tokens, for instance when the instance is stopped and started).
import type { CredentialSource } from "./source.ts";
import type { AwsCredentials } from "./credentials.ts";
import { parseCredentialDocument, CREDENTIAL_DOCUMENT_MAX_BYTES } from "./document.ts";
import { CredentialSourceError, exchange, type HttpReply } from "./http.ts";

export const IMDS_IPV4_ENDPOINT = "http://169.254.169.254";
export const IMDS_IPV6_ENDPOINT = "http://[fd00:ec2::254]";
/** IMDS accepts token TTLs of 1 s to 6 h. */
export const IMDS_TOKEN_TTL_MAX_SECONDS = 21_600;
export const IMDS_TOKEN_PATH = "/latest/api/token";
export const IMDS_CREDENTIALS_PATH = "/latest/meta-data/iam/security-credentials/";
export const IMDS_TOKEN_HEADER = "x-aws-ec2-metadata-token";
export const IMDS_TOKEN_TTL_HEADER = "x-aws-ec2-metadata-token-ttl-seconds";

/** The AWS SDKs' default: IMDS answers in milliseconds or not at all. */
const DEFAULT_TIMEOUT_MS = 1_000;
/** A token is renewed this long before its TTL runs out (at most a tenth of the TTL). */
const TOKEN_RENEW_MARGIN_MS = 60_000;
/** Metadata values other than the credential document are short. */
const METADATA_MAX_BYTES = 16 * 1024;
/** IMDS tokens are ~56 base64 characters; they go back into a header, so nothing but visible ASCII. */
const IMDS_TOKEN = /^[\x21-\x7e]{1,1024}$/;
/** IAM role names: 1–64 of [\w+=,.@-]. */
const ROLE_NAME = /^[\w+=,.@-]{1,64}$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;

export interface ImdsOptions {
  /** IMDS base URL; default from the environment (imdsEndpointFromEnvironment), else 169.254.169.254. */
  readonly endpoint?: string | URL;
  /** TTL asked for each session token, 1–21600 s; default 21600. */
  readonly tokenTtlSeconds?: number;
  /** Deadline of each request; default 1000 ms. */
  readonly timeoutMs?: number;
  /** Clock for token lifetimes; default Date.now. */
  readonly now?: () => number;
}

/**
 * The IMDS base URL the AWS SDKs would use: AWS_EC2_METADATA_SERVICE_ENDPOINT if set, else the
 * IPv4 or IPv6 address by AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE (default IPv4). The simulator
 * hands the parent its address this way.
 */
export function imdsEndpointFromEnvironment(env: NodeJS.ProcessEnv = process.env): URL {
  const explicit = env.AWS_EC2_METADATA_SERVICE_ENDPOINT;
  if (explicit !== undefined && explicit !== "") return checkEndpoint(explicit, "AWS_EC2_METADATA_SERVICE_ENDPOINT");
  const mode = env.AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE ?? "IPv4";
  if (mode.toLowerCase() === "ipv4") return new URL(IMDS_IPV4_ENDPOINT);
  if (mode.toLowerCase() === "ipv6") return new URL(IMDS_IPV6_ENDPOINT);
  throw new CredentialSourceError("imds", "configuration", `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE must be IPv4 or IPv6, not ${JSON.stringify(mode.slice(0, 32))}`);
}

function checkEndpoint(value: string | URL, name: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CredentialSourceError("imds", "configuration", `${name} is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new CredentialSourceError("imds", "configuration", `${name} must be an http(s) URL`);
  if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") throw new CredentialSourceError("imds", "configuration", `${name} must be scheme, host and port only`);
  return url;
}

export class ImdsClient {
  readonly endpoint: URL;
  readonly #ttlSeconds: number;
  readonly #timeoutMs: number;
  readonly #now: () => number;
  #token: { value: string; renewAt: number } | undefined;
  #pendingToken: Promise<string> | undefined;

  constructor(options: ImdsOptions = {}) {
    this.endpoint = options.endpoint === undefined ? imdsEndpointFromEnvironment() : checkEndpoint(options.endpoint, "the IMDS endpoint");
    const ttl = options.tokenTtlSeconds ?? IMDS_TOKEN_TTL_MAX_SECONDS;
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > IMDS_TOKEN_TTL_MAX_SECONDS) throw new RangeError(`tokenTtlSeconds must be an integer from 1 to ${IMDS_TOKEN_TTL_MAX_SECONDS}`);
    this.#ttlSeconds = ttl;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#now = options.now ?? Date.now;
  }

  /** The body of a metadata GET (a path under the endpoint, e.g. /latest/meta-data/instance-id); non-2xx throws. */
  async get(path: string, signal?: AbortSignal): Promise<string> {
    return (await this.#get(path, METADATA_MAX_BYTES, signal, () => undefined)).body;
  }

  /** The instance's region (/latest/meta-data/placement/region). */
  async region(signal?: AbortSignal): Promise<string> {
    const region = (await this.get("/latest/meta-data/placement/region", signal)).trim();
    if (!REGION.test(region)) throw new CredentialSourceError("imds", "malformed", "placement/region is not an AWS region name");
    return region;
  }

  /** The role credentials of the instance profile. */
  async credentials(signal?: AbortSignal): Promise<AwsCredentials> {
    const noRole = (status: number) =>
      status === 404 ? new CredentialSourceError("imds", "no-role", "the instance has no IAM role (attach an instance profile to the parent instance)", { status }) : undefined;
    const listing = await this.#get(IMDS_CREDENTIALS_PATH, METADATA_MAX_BYTES, signal, noRole);
    const role = listing.body.split("\n", 1)[0]!.trim();
    if (!ROLE_NAME.test(role)) throw new CredentialSourceError("imds", "malformed", "iam/security-credentials/ did not name an IAM role");
    const document = await this.#get(IMDS_CREDENTIALS_PATH + role, CREDENTIAL_DOCUMENT_MAX_BYTES, signal, noRole);
    return parseCredentialDocument("imds", document.body);
  }

  async #get(path: string, maxBodyBytes: number, signal: AbortSignal | undefined, explain: (status: number) => CredentialSourceError | undefined): Promise<HttpReply> {
    const url = new URL(path, this.endpoint);
    const send = async () => exchange("imds", url, { method: "GET", headers: { [IMDS_TOKEN_HEADER]: await this.#sessionToken(signal) }, timeoutMs: this.#timeoutMs, maxBodyBytes, signal });
    let reply = await send();
    if (reply.status === 401) {
      // The token was forgotten or expired early: one new token, one more try.
      this.#token = undefined;
      reply = await send();
    }
    if (reply.status >= 200 && reply.status < 300) return reply;
    throw explain(reply.status) ?? new CredentialSourceError("imds", "http-status", `GET ${url.pathname} answered ${reply.status}`, { status: reply.status });
  }

  #sessionToken(signal: AbortSignal | undefined): Promise<string> {
    const token = this.#token;
    if (token !== undefined && this.#now() < token.renewAt) return Promise.resolve(token.value);
    // Concurrent callers share one PUT.
    this.#pendingToken ??= this.#requestToken(signal).finally(() => (this.#pendingToken = undefined));
    return this.#pendingToken;
  }

  async #requestToken(signal: AbortSignal | undefined): Promise<string> {
    const url = new URL(IMDS_TOKEN_PATH, this.endpoint);
    const requestedAt = this.#now();
    let reply: HttpReply;
    try {
      reply = await exchange("imds", url, { method: "PUT", headers: { [IMDS_TOKEN_TTL_HEADER]: String(this.#ttlSeconds) }, timeoutMs: this.#timeoutMs, maxBodyBytes: 4096, signal });
    } catch (error) {
      if (error instanceof CredentialSourceError && error.reason === "timeout") {
        // The classic cause: a container on the instance, one hop further than the token's IP TTL allows.
        const hint = "from a container, the instance's metadata hop limit (HttpPutResponseHopLimit) must be at least 2";
        throw new CredentialSourceError("imds", "timeout", `${url.host} did not answer the token request within ${this.#timeoutMs} ms; ${hint}`, { cause: error });
      }
      throw error;
    }
    if (reply.status !== 200) {
      const hint =
        reply.status === 403 ? " (IMDS is turned off for this instance, or the request passed through a proxy)" : reply.status === 404 || reply.status === 405 ? " (this endpoint does not speak IMDSv2)" : "";
      throw new CredentialSourceError("imds", "http-status", `PUT ${IMDS_TOKEN_PATH} answered ${reply.status}${hint}`, { status: reply.status });
    }
    const value = reply.body;
    if (!IMDS_TOKEN.test(value)) throw new CredentialSourceError("imds", "malformed", "the session token is empty, too long or not visible ASCII");
    // IMDS echoes the TTL it granted; trust the shorter of that and what was asked.
    const granted = Number(reply.headers[IMDS_TOKEN_TTL_HEADER]);
    const ttlMs = 1000 * (Number.isInteger(granted) && granted > 0 ? Math.min(granted, this.#ttlSeconds) : this.#ttlSeconds);
    this.#token = { value, renewAt: requestedAt + ttlMs - Math.min(TOKEN_RENEW_MARGIN_MS, ttlMs / 10) };
    return value;
  }
}

/** IMDSv2 as a credential source. */
export function imdsCredentialSource(options: ImdsOptions = {}): CredentialSource {
  const client = new ImdsClient(options);
  return {
    name: "imds",
    describe: () => `IMDSv2 at ${client.endpoint.origin}`,
    fetch: (signal) => client.credentials(signal),
  };
}
