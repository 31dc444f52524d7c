// Verifies AWS Signature Version 4 on a received request, as an AWS service
// does before it acts: the Authorization header's form, the credentials it
// names (key, session token, expiry), its scope (date, region, service), the
// clock, and the signature itself, recomputed with the SDK's own signer over
// the request as received and compared in constant time. Failures carry the
// error codes and messages AWS's JSON services answer with.
import { createHash, createHmac, timingSafeEqual, type Hash, type Hmac } from "node:crypto";
import { SignatureV4 } from "@smithy/signature-v4";

export interface AwsCredentialRecord {
  readonly secretAccessKey: string;
  /** When set, requests must carry it as x-amz-security-token. */
  readonly sessionToken?: string;
  /** Requests at or after this instant are refused as expired. */
  readonly expiration?: Date;
}

/** The credentials issued for an access key ID, or undefined for an unknown one. */
export type CredentialLookup = (accessKeyId: string) => AwsCredentialRecord | undefined;

export interface ReceivedRequest {
  readonly method: string;
  /** The request target as received: an origin-form path and query, still percent-encoded. */
  readonly target: string;
  /** Header names and values alternating, as node:http's rawHeaders (repeated headers kept apart). */
  readonly rawHeaders: readonly string[];
  readonly body: Uint8Array;
}

export interface SigV4Expectations {
  readonly region: string;
  readonly service: string;
  readonly lookup: CredentialLookup;
  readonly now: Date;
}

/** A refusal with the error code (the part after `#` in `__type`) and message an AWS service would answer. */
export class AwsRequestError extends Error {
  override readonly name = "AwsRequestError";
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** How far x-amz-date may be from the verifier's clock, either way, as AWS allows. */
const MAX_CLOCK_SKEW_MS = 5 * 60_000;
const ALGORITHM = "AWS4-HMAC-SHA256";

const incomplete = (message: string) => new AwsRequestError("IncompleteSignatureException", message);
const invalidSignature = (message: string) => new AwsRequestError("InvalidSignatureException", message);
const invalidToken = () => new AwsRequestError("UnrecognizedClientException", "The security token included in the request is invalid.");
const SIGNATURE_MISMATCH =
  "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/** Resolves when the request is signed by known, current credentials for this region and service; otherwise rejects with an AwsRequestError. */
export async function verifySigV4(request: ReceivedRequest, expected: SigV4Expectations): Promise<void> {
  const authorization = singleHeader(request.rawHeaders, "authorization");
  if (authorization === undefined) throw new AwsRequestError("MissingAuthenticationTokenException", "Request is missing Authentication Token");
  const { credential, signedHeaders, signature } = parseAuthorization(authorization);
  const amzDate = singleHeader(request.rawHeaders, "x-amz-date");
  if (amzDate === undefined) throw incomplete("Authorization header requires existence of a 'X-Amz-Date' header.");
  const signingDate = parseAmzDate(amzDate);

  const record = expected.lookup(credential.accessKeyId);
  if (record === undefined) throw invalidToken();
  const token = singleHeader(request.rawHeaders, "x-amz-security-token");
  if (!sameText(token, record.sessionToken)) throw invalidToken();
  if (record.expiration !== undefined && expected.now.getTime() >= record.expiration.getTime()) {
    throw new AwsRequestError("ExpiredTokenException", "The security token included in the request is expired");
  }

  if (credential.date !== amzDate.slice(0, 8)) {
    throw invalidSignature(`Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${credential.date}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`);
  }
  if (credential.region !== expected.region) throw invalidSignature(`Credential should be scoped to a valid region, not '${credential.region}'.`);
  if (credential.service !== expected.service) throw invalidSignature(`Credential should be scoped to correct service: '${expected.service}'.`);
  checkClock(signingDate, amzDate, expected.now);

  const headers = signedHeaderValues(request.rawHeaders, signedHeaders);
  const contentHash = headers["x-amz-content-sha256"];
  // The signer takes a signed payload hash on trust; the body must be what it names.
  if (contentHash !== undefined && contentHash !== createHash("sha256").update(request.body).digest("hex")) {
    throw invalidSignature("The provided 'x-amz-content-sha256' header does not match what was computed.");
  }
  const { path, query } = splitTarget(request.target);
  const signer = new SignatureV4({
    credentials: { accessKeyId: credential.accessKeyId, secretAccessKey: record.secretAccessKey, sessionToken: record.sessionToken },
    region: credential.region,
    service: credential.service,
    sha256: Sha256,
    // Only what the client signed is signed again: no payload-hash header is added.
    applyChecksum: false,
  });
  const resigned = await signer.sign(
    { method: request.method, protocol: "https:", hostname: headers["host"] ?? "", path, query, headers, body: request.body },
    { signingDate, signableHeaders: new Set(signedHeaders) },
  );
  const expectedSignature = /Signature=([0-9a-f]{64})$/.exec(String(resigned.headers["authorization"]))?.[1];
  if (expectedSignature === undefined || !timingSafeEqual(Buffer.from(expectedSignature, "latin1"), Buffer.from(signature, "latin1"))) {
    throw invalidSignature(SIGNATURE_MISMATCH);
  }
}

interface CredentialScope {
  readonly accessKeyId: string;
  readonly date: string;
  readonly region: string;
  readonly service: string;
}

/** `AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, SignedHeaders=a;b, Signature=<64 hex>`. */
function parseAuthorization(header: string): { credential: CredentialScope; signedHeaders: string[]; signature: string } {
  if (!header.startsWith(`${ALGORITHM} `)) throw incomplete(`Authorization header must use the ${ALGORITHM} algorithm.`);
  const parameters = new Map<string, string>();
  for (const part of header.slice(ALGORITHM.length + 1).split(",")) {
    const match = /^\s*([A-Za-z]+)=(\S*)\s*$/.exec(part);
    if (match === null) throw incomplete(`Authorization header requires each component to be of the form 'Name=value'.`);
    const [, name, value] = match as unknown as [string, string, string];
    if (parameters.has(name)) throw incomplete(`Authorization header repeats '${name}'.`);
    parameters.set(name, value);
  }
  const required = (name: string) => {
    const value = parameters.get(name);
    if (value === undefined || value === "") throw incomplete(`Authorization header requires '${name}' parameter.`);
    return value;
  };
  const credential = required("Credential");
  const signedHeaders = required("SignedHeaders");
  const signature = required("Signature");
  if (parameters.size !== 3) throw incomplete("Authorization header has parameters other than Credential, SignedHeaders and Signature.");

  const scope = credential.split("/");
  const [accessKeyId = "", date = "", region = "", service = "", terminator] = scope;
  if (scope.length !== 5 || terminator !== "aws4_request" || accessKeyId === "" || !/^\d{8}$/.test(date) || region === "" || service === "") {
    throw incomplete("Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/aws4_request.");
  }
  const names = signedHeaders.split(";");
  if (!names.every((name) => /^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(name))) throw incomplete("SignedHeaders must be lowercase header names separated by ';'.");
  if (!names.includes("host")) throw invalidSignature("'Host' must be a 'SignedHeader' in the AWS Authorization.");
  if (!/^[0-9a-f]{64}$/.test(signature)) throw incomplete("Signature must be 64 lowercase hexadecimal digits.");
  return { credential: { accessKeyId, date, region, service }, signedHeaders: names, signature };
}

/** x-amz-date's basic ISO 8601 form, 20150830T123600Z, as a Date; refuses anything else, including impossible dates. */
function parseAmzDate(text: string): Date {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  const date = match === null ? undefined : new Date(`${match[1]}-${match[2]}-${match[3]}T${match[4]}:${match[5]}:${match[6]}Z`);
  if (date === undefined || Number.isNaN(date.getTime()) || date.toISOString().replace(/[-:]|\.\d{3}/g, "") !== text) {
    throw incomplete(`X-Amz-Date must be in the ISO 8601 basic format YYYYMMDD'T'HHMMSS'Z', not '${text.slice(0, 40)}'.`);
  }
  return date;
}

function checkClock(signingDate: Date, amzDate: string, now: Date): void {
  const compact = (date: Date) => date.toISOString().replace(/[-:]|\.\d{3}/g, "");
  if (signingDate.getTime() < now.getTime() - MAX_CLOCK_SKEW_MS) {
    throw invalidSignature(`Signature expired: ${amzDate} is now earlier than ${compact(new Date(now.getTime() - MAX_CLOCK_SKEW_MS))} (${compact(now)} - 5 min.)`);
  }
  if (signingDate.getTime() > now.getTime() + MAX_CLOCK_SKEW_MS) {
    throw invalidSignature(`Signature not yet current: ${amzDate} is still later than ${compact(new Date(now.getTime() + MAX_CLOCK_SKEW_MS))} (${compact(now)} + 5 min.)`);
  }
}

/** Equal strings (or both absent), compared in constant time for equal lengths. */
function sameText(received: string | undefined, issued: string | undefined): boolean {
  if (received === undefined || issued === undefined) return received === issued;
  const a = Buffer.from(received, "utf8");
  const b = Buffer.from(issued, "utf8");
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Every value of a header, in order (names compare case-insensitively). */
function headerValues(rawHeaders: readonly string[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === name) values.push(rawHeaders[i + 1]!);
  return values;
}

/** A header that may appear at most once; a repeated one is refused rather than guessed at. */
function singleHeader(rawHeaders: readonly string[], name: string): string | undefined {
  const values = headerValues(rawHeaders, name);
  if (values.length > 1) throw incomplete(`The request has more than one '${name}' header.`);
  return values[0];
}

/** The signed headers as the canonical request has them: repeated values joined by commas, in order. */
function signedHeaderValues(rawHeaders: readonly string[], names: readonly string[]): Record<string, string> {
  const entries = names.map((name) => {
    const values = headerValues(rawHeaders, name);
    if (values.length === 0) throw invalidSignature(`The signed header '${name}' is not in the request.`);
    return [name, values.join(",")] as const;
  });
  return Object.fromEntries(entries);
}

/** The path as received (the signer encodes it once more, as SigV4 wants), and the query decoded (the signer encodes it again). */
function splitTarget(target: string): { path: string; query: Record<string, string | string[]> } {
  if (!target.startsWith("/")) throw new AwsRequestError("SerializationException", "The request target must be a path.");
  const mark = target.indexOf("?");
  const path = mark < 0 ? target : target.slice(0, mark);
  const query = new Map<string, string[]>();
  for (const pair of mark < 0 ? [] : target.slice(mark + 1).split("&")) {
    if (pair === "") continue;
    const equals = pair.indexOf("=");
    const [key, value] = equals < 0 ? [pair, ""] : [pair.slice(0, equals), pair.slice(equals + 1)];
    const decodedKey = decodeQueryComponent(key);
    query.set(decodedKey, [...(query.get(decodedKey) ?? []), decodeQueryComponent(value)]);
  }
  return { path, query: Object.fromEntries([...query].map(([key, values]) => [key, values.length === 1 ? values[0]! : values])) };
}

function decodeQueryComponent(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new AwsRequestError("SerializationException", "The query string is not valid percent-encoding.");
  }
}

type SourceData = string | ArrayBuffer | ArrayBufferView;

function bytesOf(data: SourceData, encoding: BufferEncoding = "utf8"): Uint8Array {
  if (typeof data === "string") return Buffer.from(data, encoding);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}

/** SHA-256, or HMAC-SHA-256 keyed with `secret`: the hash interface SignatureV4 computes with, from node:crypto. */
export class Sha256 {
  readonly #hash: Hash | Hmac;

  constructor(secret?: SourceData) {
    this.#hash = secret === undefined ? createHash("sha256") : createHmac("sha256", bytesOf(secret));
  }

  update(data: SourceData, encoding?: "utf8" | "ascii" | "latin1"): void {
    this.#hash.update(bytesOf(data, encoding));
  }

  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#hash.digest());
  }
}
