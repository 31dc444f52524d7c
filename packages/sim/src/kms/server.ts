// The KMS simulator: an HTTPS server (TLS from the service CA) that speaks
// the AWS JSON 1.1 protocol (POST /, X-Amz-Target: TrentService.<Operation>,
// application/x-amz-json-1.1) as @aws-sdk/client-kms expects it. Every request
// is checked for Signature Version 4 first (service name "kms"), then judged
// by key policies (and one identity policy standing in for IAM), with the
// Nitro Enclaves condition keys taken from a verified attestation document.
// With a Recipient, plaintext leaves only inside a CMS envelope to the
// document's public key (CiphertextForRecipient), never as Plaintext.
import { createPublicKey, randomBytes, randomUUID } from "node:crypto";
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import { createServer } from "node:https";
import { isIPv6 } from "node:net";
import { sealForRecipient } from "@strongroom/kms";
import { AttestationError, MAX_DOCUMENT_BYTES, verifyAttestationDocument } from "@strongroom/nitro";
import { parseRoleArn } from "../iam/credential-store.ts";
import { listen } from "../listen.ts";
import { readBody } from "../read-body.ts";
import type { ServiceCa } from "../service-ca.ts";
import { AwsRequestError, verifySigV4, type AwsCredentialRecord } from "../sigv4-verifier.ts";
import { blobKeyId, type EncryptionContext, MAX_CIPHERTEXT_BYTES, MAX_PLAINTEXT_BYTES, openBlob, sealBlob } from "./ciphertext.ts";
import { DEFAULT_IDENTITY_POLICY, defaultKeyPolicy, evaluate, MalformedPolicyError, MAX_POLICY_CHARS, parsePolicy, type Caller, type Policy } from "./policy.ts";
import { KmsState, type StoredKey } from "./state.ts";

/** The credentials issued for an access key id; `roleArn` (as SimulatedCredentialStore's have it) names the principal. */
export type KmsCredentialLookup = (accessKeyId: string) => (AwsCredentialRecord & { readonly roleArn?: string }) | undefined;

export interface KmsSimulatorOptions {
  /** Keys and policies persist in <dir>/kms-state.json (mode 0600). */
  readonly dir: string;
  readonly ca: ServiceCa;
  /** The endpoint's names (the first is the URL's host), e.g. kms.us-east-1.sim.strongroom.internal. */
  readonly names: readonly string[];
  readonly region: string;
  /** Default 000000000000 (the simulated parent role's account). */
  readonly accountId?: string;
  readonly lookup: KmsCredentialLookup;
  /** PEM of the NSM root that attestation documents must chain to. */
  readonly attestationRoot: string;
  /**
   * The IAM policy every principal is taken to have (the simulator has no
   * IAM): it alone decides CreateKey, ListKeys and GenerateRandom, and what a
   * key policy's account-root statement delegates. Default: Allow kms:*.
   */
  readonly identityPolicy?: string;
  readonly now?: () => Date;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 0: a free port. */
  readonly port?: number;
}

export interface KmsSimulator {
  /** https://<first name>:<port>: the endpoint a client configures. */
  readonly url: string;
  readonly port: number;
  /** Stops listening, destroys open connections and zeroes the backing keys held in memory. */
  close(): Promise<void>;
}

/** Requests larger than this are refused unread; the largest legitimate one (a 32 KiB policy, a 16 KiB document, in JSON and base64) is far smaller. */
const MAX_BODY_BYTES = 256 * 1024;
const JSON_TYPE = "application/x-amz-json-1.1";
const TARGET_PREFIX = "TrentService.";
const SYMMETRIC_DEFAULT = "SYMMETRIC_DEFAULT";
const RECIPIENT_ALGORITHM = "RSAES_OAEP_SHA_256";
const MAX_RANDOM_BYTES = 1024;
const MAX_DESCRIPTION_CHARS = 8192;
const MAX_KEY_ID_CHARS = 2048;
const MAX_CONTEXT_ENTRIES = 64;
const MAX_CONTEXT_CHARS = 8192;
const MIN_RECIPIENT_RSA_BITS = 2048;
const KEY_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A refusal as KMS answers it: `{"__type":"<code>","message":…}` with an HTTP status. */
class KmsError extends Error {
  readonly code: string;
  readonly status: number;

  constructor(code: string, message: string, status = 400) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

const validation = (message: string) => new KmsError("ValidationException", message);
const serialization = (message: string) => new KmsError("SerializationException", message);

type Input = Record<string, unknown>;
type Output = Record<string, unknown>;

/** What a verified attestation document contributes to a request. */
interface Recipient {
  /** DER SPKI of the RSA key the answer is sealed to. */
  readonly spki: Uint8Array;
  /** kms:recipientattestation:imagesha384 and kms:recipientattestation:pcr<n>, lower-case hex. */
  readonly values: ReadonlyMap<string, string>;
}

export async function startKmsSimulator(options: KmsSimulatorOptions): Promise<KmsSimulator> {
  const now = options.now ?? (() => new Date());
  const accountId = options.accountId ?? "000000000000";
  if (!/^\d{12}$/.test(accountId)) throw new RangeError(`accountId "${accountId}" is not 12 digits`);
  if (!/^[a-z]{2}(-[a-z0-9]+)+-\d+$/.test(options.region)) throw new RangeError(`region "${options.region}" is not an AWS region name`);
  const identityPolicy = parsePolicy(options.identityPolicy ?? DEFAULT_IDENTITY_POLICY, "identity");
  const state = KmsState.load(options.dir, options.region, accountId);
  const policies = new Map<string, Policy>();
  for (const key of state.keys.values()) policies.set(key.keyId, parsePolicy(key.policy, "key"));
  const arnOf = (keyId: string) => `arn:aws:kms:${options.region}:${accountId}:key/${keyId}`;

  const kms = new Operations({ state, policies, identityPolicy, accountId, region: options.region, arnOf, attestationRoot: options.attestationRoot, now });
  const { keyPem, certificatePem } = options.ca.issueServerCertificate(options.names);

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const body = await readBody(request, { maxBytes: MAX_BODY_BYTES, wipeChunks: true });
    if (body === "closed") return;
    if (body === "too large") throw new KmsError("RequestEntityTooLargeException", `The request body is larger than ${MAX_BODY_BYTES} bytes.`, 413);
    // Plaintexts to encrypt travel in request bodies: the bytes are zeroed however the request ends.
    try {
      send(response, 200, await answer(request, body), now());
    } finally {
      body.fill(0);
    }
  };

  const answer = async (request: IncomingMessage, body: Buffer): Promise<Output> => {
    let record: ReturnType<KmsCredentialLookup>;
    const lookup = (accessKeyId: string) => (record = options.lookup(accessKeyId));
    try {
      await verifySigV4({ method: request.method ?? "", target: request.url ?? "", rawHeaders: request.rawHeaders, body }, { region: options.region, service: "kms", lookup, now: now() });
    } catch (error) {
      if (error instanceof AwsRequestError) throw new KmsError(error.code, error.message);
      throw error;
    }
    const caller = callerOf(record);
    const target = request.headers["x-amz-target"];
    if (request.method !== "POST" || request.url !== "/" || typeof target !== "string" || !target.startsWith(TARGET_PREFIX)) {
      throw new KmsError("UnknownOperationException", "The action or operation requested is invalid.");
    }
    const operation = target.slice(TARGET_PREFIX.length);
    let input: unknown;
    try {
      input = body.length === 0 ? {} : JSON.parse(body.toString("utf8"));
    } catch {
      throw serialization("The request body is not valid JSON.");
    }
    if (typeof input !== "object" || input === null || Array.isArray(input)) throw serialization("The request body must be a JSON object.");
    return kms.run(operation, input as Input, caller);
  };

  const server = createServer({ key: keyPem, cert: certificatePem, minVersion: "TLSv1.2" }, (request, response) => {
    response.on("error", () => response.destroy());
    handle(request, response).catch((error: unknown) => {
      if (response.headersSent) return void response.destroy();
      const refusal = error instanceof KmsError ? error : new KmsError("KMSInternalException", "The request processing has failed because of an unknown error.", 500);
      if (!request.complete) response.setHeader("connection", "close");
      send(response, refusal.status, { __type: refusal.code, message: refusal.message }, now());
    });
  });
  const { port } = await listen(server, options);
  const first = options.names[0]!;
  return {
    url: `https://${isIPv6(first) ? `[${first}]` : first}:${port}`,
    port,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      state.wipe();
    },
  };
}

/** The principal a credential acts as: its role (and the role's account), or nobody in particular. */
function callerOf(record: ReturnType<KmsCredentialLookup>): Caller {
  const roleArn = record?.roleArn;
  if (typeof roleArn !== "string") return { principalArn: undefined, accountId: undefined };
  try {
    return { principalArn: roleArn, accountId: parseRoleArn(roleArn).accountId };
  } catch {
    return { principalArn: undefined, accountId: undefined };
  }
}

function send(response: ServerResponse, status: number, body: Output, date: Date): void {
  const text = JSON.stringify(body);
  const headers: OutgoingHttpHeaders = {
    "content-type": JSON_TYPE,
    "content-length": Buffer.byteLength(text),
    "x-amzn-requestid": randomUUID(),
    date: date.toUTCString(),
  };
  response.writeHead(status, headers);
  response.end(text);
}

// ---------------------------------------------------------------------------
// Input fields, checked as the JSON protocol's server side does: a wrong type
// is a SerializationException, a missing or out-of-range value a ValidationException.

function field(input: Input, name: string): unknown {
  const value = input[name];
  return value === null ? undefined : value;
}

function optionalString(input: Input, name: string, max: number): string | undefined {
  const value = field(input, name);
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw serialization(`${name} must be a string.`);
  if (value.length > max) throw validation(`1 validation error detected: Value at '${lowerFirst(name)}' failed to satisfy constraint: Member must have length less than or equal to ${max}`);
  return value;
}

function requiredString(input: Input, name: string, max: number): string {
  const value = optionalString(input, name, max);
  if (value === undefined || value.length === 0) throw validation(`1 validation error detected: Value null at '${lowerFirst(name)}' failed to satisfy constraint: Member must not be null`);
  return value;
}

function optionalBlob(input: Input, name: string, max: number): Uint8Array | undefined {
  const value = field(input, name);
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw serialization(`${name} must be base64.`);
  const bytes = new Uint8Array(Buffer.from(value, "base64"));
  if (bytes.length === 0 || bytes.length > max) {
    bytes.fill(0);
    throw validation(`1 validation error detected: Value at '${lowerFirst(name)}' failed to satisfy constraint: Member must have length between 1 and ${max}`);
  }
  return bytes;
}

function requiredBlob(input: Input, name: string, max: number): Uint8Array {
  const value = optionalBlob(input, name, max);
  if (value === undefined) throw validation(`1 validation error detected: Value null at '${lowerFirst(name)}' failed to satisfy constraint: Member must not be null`);
  return value;
}

function optionalInteger(input: Input, name: string, min: number, max: number): number | undefined {
  const value = field(input, name);
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value)) throw serialization(`${name} must be an integer.`);
  if (value < min || value > max) {
    throw validation(`1 validation error detected: Value '${value}' at '${lowerFirst(name)}' failed to satisfy constraint: Member must have value ${value < min ? "greater" : "less"} than or equal to ${value < min ? min : max}`);
  }
  return value;
}

function optionalBoolean(input: Input, name: string): boolean {
  const value = field(input, name);
  if (value === undefined) return false;
  if (typeof value !== "boolean") throw serialization(`${name} must be a boolean.`);
  return value;
}

function encryptionContext(input: Input): EncryptionContext {
  const value = field(input, "EncryptionContext");
  if (value === undefined) return {};
  if (typeof value !== "object" || Array.isArray(value) || value === null) throw serialization("EncryptionContext must be a map of strings.");
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > MAX_CONTEXT_ENTRIES) throw validation(`The encryption context has more than ${MAX_CONTEXT_ENTRIES} pairs.`);
  let chars = 0;
  for (const [key, text] of entries) {
    if (typeof text !== "string") throw serialization("EncryptionContext must be a map of strings.");
    if (key.length === 0) throw validation("Encryption context keys must not be empty.");
    chars += key.length + text.length;
  }
  if (chars > MAX_CONTEXT_CHARS) throw validation(`The encryption context is longer than ${MAX_CONTEXT_CHARS} characters.`);
  return Object.fromEntries(entries) as EncryptionContext;
}

function lowerFirst(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

const base64 = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");

// ---------------------------------------------------------------------------

interface OperationsContext {
  readonly state: KmsState;
  readonly policies: Map<string, Policy>;
  readonly identityPolicy: Policy;
  readonly accountId: string;
  readonly region: string;
  readonly arnOf: (keyId: string) => string;
  readonly attestationRoot: string;
  readonly now: () => Date;
}

class Operations {
  readonly #c: OperationsContext;

  constructor(context: OperationsContext) {
    this.#c = context;
  }

  run(operation: string, input: Input, caller: Caller): Output {
    switch (operation) {
      case "CreateKey":
        return this.createKey(input, caller);
      case "DescribeKey":
        return this.describeKey(input, caller);
      case "ListKeys":
        return this.listKeys(input, caller);
      case "GetKeyPolicy":
        return this.getKeyPolicy(input, caller);
      case "PutKeyPolicy":
        return this.putKeyPolicy(input, caller);
      case "EnableKey":
        return this.setEnabled(input, caller, true);
      case "DisableKey":
        return this.setEnabled(input, caller, false);
      case "Encrypt":
        return this.encrypt(input, caller);
      case "Decrypt":
        return this.decrypt(input, caller);
      case "GenerateDataKey":
        return this.generateDataKey(input, caller);
      case "GenerateRandom":
        return this.generateRandom(input, caller);
      default:
        throw new KmsError("UnknownOperationException", `The simulator does not implement ${operation.slice(0, 64)}.`);
    }
  }

  // --- keys ---------------------------------------------------------------

  /** A key id, key ARN (of this region and account) → the key; aliases and unknown keys → NotFoundException. */
  #resolve(keyId: string): StoredKey {
    let id = keyId;
    const arn = /^arn:aws:kms:([^:]+):(\d{12}):key\/(.+)$/.exec(keyId);
    if (arn !== null) {
      if (arn[1] !== this.#c.region || arn[2] !== this.#c.accountId) throw new KmsError("NotFoundException", `Key '${keyId}' does not exist`);
      id = arn[3]!;
    } else if (keyId.startsWith("alias/") || /^arn:aws:kms:[^:]+:\d{12}:alias\//.test(keyId)) {
      throw new KmsError("NotFoundException", `Alias ${keyId} is not found.`);
    }
    if (!KEY_UUID.test(id)) throw new KmsError("NotFoundException", `Invalid keyId '${keyId}'`);
    const key = this.#c.state.keys.get(id);
    if (key === undefined) throw new KmsError("NotFoundException", `Key '${this.#c.arnOf(id)}' does not exist`);
    return key;
  }

  #metadata(key: StoredKey): Output {
    return {
      AWSAccountId: this.#c.accountId,
      KeyId: key.keyId,
      Arn: this.#c.arnOf(key.keyId),
      CreationDate: key.creationDate,
      Enabled: key.enabled,
      Description: key.description,
      KeyUsage: "ENCRYPT_DECRYPT",
      KeyState: key.enabled ? "Enabled" : "Disabled",
      Origin: "AWS_KMS",
      KeyManager: "CUSTOMER",
      CustomerMasterKeySpec: SYMMETRIC_DEFAULT,
      KeySpec: SYMMETRIC_DEFAULT,
      EncryptionAlgorithms: [SYMMETRIC_DEFAULT],
      MultiRegion: false,
    };
  }

  #requireEnabled(key: StoredKey): void {
    if (!key.enabled) throw new KmsError("DisabledException", `${this.#c.arnOf(key.keyId)} is disabled.`);
  }

  // --- authorisation --------------------------------------------------------

  #values(caller: Caller, recipient: Recipient | undefined): Map<string, string> {
    const values = new Map(recipient?.values ?? []);
    if (caller.principalArn !== undefined) values.set("aws:principalarn", caller.principalArn);
    if (caller.accountId !== undefined) values.set("kms:calleraccount", caller.accountId);
    return values;
  }

  /**
   * Allowed when no policy denies and the key policy allows (directly, or
   * through its account-root statement when the identity policy allows);
   * for operations on no key, when the identity policy allows.
   */
  #authorize(caller: Caller, action: string, key: StoredKey | undefined, recipient?: Recipient): void {
    const resource = key === undefined ? "*" : this.#c.arnOf(key.keyId);
    const request = { caller, action, resource, values: this.#values(caller, recipient) };
    const who = caller.principalArn ?? "an unknown principal";
    const identity = evaluate(this.#c.identityPolicy, request);
    const refuse = (because: string) => new KmsError("AccessDeniedException", `User: ${who} is not authorized to perform: ${action}${key === undefined ? "" : ` on resource: ${resource}`} ${because}`);
    if (identity === "deny") throw refuse("with an explicit deny in an identity-based policy");
    if (key === undefined) {
      if (identity !== "allow") throw refuse(`because no identity-based policy allows the ${action} action`);
      return;
    }
    const decision = evaluate(this.#c.policies.get(key.keyId)!, request, () => identity === "allow");
    if (decision === "deny") throw refuse("with an explicit deny in a resource-based policy");
    if (decision !== "allow") throw refuse(`because no resource-based policy allows the ${action} action`);
  }

  /** Parses a key policy for a caller, refusing one that would lock the caller out (unless bypassed), as KMS does. */
  #checkedPolicy(text: string, caller: Caller, keyId: string, bypass: boolean): Policy {
    let policy: Policy;
    try {
      policy = parsePolicy(text, "key");
    } catch (error) {
      if (error instanceof MalformedPolicyError) throw new KmsError("MalformedPolicyDocumentException", `The key policy is malformed: ${error.message}`);
      throw error;
    }
    if (!bypass) {
      const request = { caller, action: "kms:PutKeyPolicy", resource: this.#c.arnOf(keyId), values: this.#values(caller, undefined) };
      const identity = evaluate(this.#c.identityPolicy, request);
      if (evaluate(policy, request, () => identity === "allow") !== "allow") {
        throw new KmsError("MalformedPolicyDocumentException", "The new key policy will not allow you to update the key policy in the future.");
      }
    }
    return policy;
  }

  /** The Recipient parameter, its attestation document verified; undefined when absent. */
  #recipient(input: Input): Recipient | undefined {
    const value = field(input, "Recipient");
    if (value === undefined) return undefined;
    if (typeof value !== "object" || Array.isArray(value)) throw serialization("Recipient must be a structure.");
    const recipient = value as Input;
    const algorithm = optionalString(recipient, "KeyEncryptionAlgorithm", 64);
    if (algorithm !== RECIPIENT_ALGORITHM) {
      throw validation(`1 validation error detected: Value '${String(algorithm ?? "null")}' at 'recipient.keyEncryptionAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [${RECIPIENT_ALGORITHM}]`);
    }
    const document = requiredBlob(recipient, "AttestationDocument", MAX_DOCUMENT_BYTES);
    let verified: ReturnType<typeof verifyAttestationDocument>;
    try {
      // Debug documents verify too: their all-zero PCRs are what the conditions see.
      verified = verifyAttestationDocument(document, { root: this.#c.attestationRoot, now: this.#c.now(), allowDebug: true });
    } catch (error) {
      if (error instanceof AttestationError) throw validation(`The attestation document in the Recipient parameter is not valid: ${error.message}`);
      throw error;
    }
    const spki = verified.document.publicKey;
    if (spki === undefined || spki.length === 0) throw validation("The attestation document in the Recipient parameter has no public key.");
    let bits: number | undefined;
    try {
      const key = createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
      bits = key.asymmetricKeyType === "rsa" ? key.asymmetricKeyDetails?.modulusLength : undefined;
    } catch {
      bits = undefined;
    }
    if (bits === undefined || bits < MIN_RECIPIENT_RSA_BITS) throw validation(`The public key in the attestation document is not an RSA key of at least ${MIN_RECIPIENT_RSA_BITS} bits.`);
    const values = new Map<string, string>();
    for (const [index, pcr] of verified.document.pcrs) values.set(`kms:recipientattestation:pcr${index}`, Buffer.from(pcr).toString("hex"));
    const pcr0 = verified.document.pcrs.get(0);
    if (pcr0 !== undefined) values.set("kms:recipientattestation:imagesha384", Buffer.from(pcr0).toString("hex"));
    return { spki, values };
  }

  #dryRun(input: Input): void {
    if (optionalBoolean(input, "DryRun")) throw new KmsError("DryRunOperationException", "The request would have succeeded, but the DryRun option is set.", 412);
  }

  /** Plaintext out: sealed to the recipient when there is one, else as Plaintext; the plaintext is zeroed either way. */
  #release(plaintext: Uint8Array, recipient: Recipient | undefined): Output {
    try {
      return recipient === undefined ? { Plaintext: base64(plaintext) } : { CiphertextForRecipient: base64(sealForRecipient(plaintext, recipient.spki)) };
    } finally {
      plaintext.fill(0);
    }
  }

  // --- operations -----------------------------------------------------------

  createKey(input: Input, caller: Caller): Output {
    const description = optionalString(input, "Description", MAX_DESCRIPTION_CHARS) ?? "";
    const policyText = optionalString(input, "Policy", MAX_POLICY_CHARS);
    for (const [name, allowed] of [["KeySpec", SYMMETRIC_DEFAULT], ["CustomerMasterKeySpec", SYMMETRIC_DEFAULT], ["KeyUsage", "ENCRYPT_DECRYPT"], ["Origin", "AWS_KMS"]] as const) {
      const value = optionalString(input, name, 64);
      if (value !== undefined && value !== allowed) throw new KmsError("UnsupportedOperationException", `The simulator makes only ${allowed} keys; ${name} ${value.slice(0, 64)} is not supported.`);
    }
    if (optionalBoolean(input, "MultiRegion")) throw new KmsError("UnsupportedOperationException", "The simulator does not make multi-Region keys.");
    if (field(input, "CustomKeyStoreId") !== undefined) throw new KmsError("CustomKeyStoreNotFoundException", "The simulator has no custom key stores.");
    this.#authorize(caller, "kms:CreateKey", undefined);
    const keyId = randomUUID();
    const text = policyText ?? defaultKeyPolicy(this.#c.accountId);
    const policy = this.#checkedPolicy(text, caller, keyId, optionalBoolean(input, "BypassPolicyLockoutSafetyCheck"));
    const key: StoredKey = { keyId, description, creationDate: Math.floor(this.#c.now().getTime() / 1000), enabled: true, policy: text, backingKey: new Uint8Array(randomBytes(32)) };
    this.#c.state.keys.set(keyId, key);
    this.#c.policies.set(keyId, policy);
    try {
      this.#c.state.save();
    } catch (error) {
      this.#c.state.keys.delete(keyId);
      this.#c.policies.delete(keyId);
      key.backingKey.fill(0);
      throw error;
    }
    return { KeyMetadata: this.#metadata(key) };
  }

  describeKey(input: Input, caller: Caller): Output {
    const key = this.#resolve(requiredString(input, "KeyId", MAX_KEY_ID_CHARS));
    this.#authorize(caller, "kms:DescribeKey", key);
    return { KeyMetadata: this.#metadata(key) };
  }

  listKeys(input: Input, caller: Caller): Output {
    const limit = optionalInteger(input, "Limit", 1, 1000) ?? 100;
    const marker = optionalString(input, "Marker", 1024);
    this.#authorize(caller, "kms:ListKeys", undefined);
    const ids = [...this.#c.state.keys.keys()];
    let start = 0;
    if (marker !== undefined) {
      const index = ids.indexOf(marker);
      if (index < 0) throw new KmsError("InvalidMarkerException", "The marker that specifies where to start listing is not valid.");
      start = index + 1;
    }
    const page = ids.slice(start, start + limit);
    const truncated = start + limit < ids.length;
    return { Keys: page.map((id) => ({ KeyId: id, KeyArn: this.#c.arnOf(id) })), Truncated: truncated, ...(truncated ? { NextMarker: page[page.length - 1] } : {}) };
  }

  getKeyPolicy(input: Input, caller: Caller): Output {
    const key = this.#resolve(requiredString(input, "KeyId", MAX_KEY_ID_CHARS));
    const name = optionalString(input, "PolicyName", 128) ?? "default";
    this.#authorize(caller, "kms:GetKeyPolicy", key);
    if (name !== "default") throw new KmsError("NotFoundException", `No such policy exists: ${name.slice(0, 128)}`);
    return { Policy: key.policy, PolicyName: "default" };
  }

  putKeyPolicy(input: Input, caller: Caller): Output {
    const key = this.#resolve(requiredString(input, "KeyId", MAX_KEY_ID_CHARS));
    const name = optionalString(input, "PolicyName", 128) ?? "default";
    const text = requiredString(input, "Policy", MAX_POLICY_CHARS);
    this.#authorize(caller, "kms:PutKeyPolicy", key);
    if (name !== "default") throw new KmsError("NotFoundException", `No such policy exists: ${name.slice(0, 128)}`);
    const policy = this.#checkedPolicy(text, caller, key.keyId, optionalBoolean(input, "BypassPolicyLockoutSafetyCheck"));
    const previous = { text: key.policy, policy: this.#c.policies.get(key.keyId)! };
    key.policy = text;
    this.#c.policies.set(key.keyId, policy);
    try {
      this.#c.state.save();
    } catch (error) {
      key.policy = previous.text;
      this.#c.policies.set(key.keyId, previous.policy);
      throw error;
    }
    return {};
  }

  setEnabled(input: Input, caller: Caller, enabled: boolean): Output {
    const key = this.#resolve(requiredString(input, "KeyId", MAX_KEY_ID_CHARS));
    this.#authorize(caller, enabled ? "kms:EnableKey" : "kms:DisableKey", key);
    const previous = key.enabled;
    key.enabled = enabled;
    try {
      this.#c.state.save();
    } catch (error) {
      key.enabled = previous;
      throw error;
    }
    return {};
  }

  #algorithm(input: Input): void {
    const algorithm = optionalString(input, "EncryptionAlgorithm", 64);
    if (algorithm !== undefined && algorithm !== SYMMETRIC_DEFAULT) throw new KmsError("InvalidKeyUsageException", `The encryption algorithm ${algorithm.slice(0, 64)} is not valid for a symmetric key.`);
  }

  encrypt(input: Input, caller: Caller): Output {
    const key = this.#resolve(requiredString(input, "KeyId", MAX_KEY_ID_CHARS));
    const plaintext = requiredBlob(input, "Plaintext", MAX_PLAINTEXT_BYTES);
    try {
      const context = encryptionContext(input);
      this.#algorithm(input);
      this.#authorize(caller, "kms:Encrypt", key);
      this.#requireEnabled(key);
      this.#dryRun(input);
      return { CiphertextBlob: base64(sealBlob(key.keyId, key.backingKey, plaintext, context)), KeyId: this.#c.arnOf(key.keyId), EncryptionAlgorithm: SYMMETRIC_DEFAULT };
    } finally {
      plaintext.fill(0);
    }
  }

  decrypt(input: Input, caller: Caller): Output {
    const blob = requiredBlob(input, "CiphertextBlob", MAX_CIPHERTEXT_BYTES);
    const context = encryptionContext(input);
    const requested = optionalString(input, "KeyId", MAX_KEY_ID_CHARS);
    this.#algorithm(input);
    const named = blobKeyId(blob);
    if (named === undefined) throw new KmsError("InvalidCiphertextException", "The ciphertext is not a valid KMS ciphertext blob.");
    let key: StoredKey;
    if (requested !== undefined && requested !== "") {
      key = this.#resolve(requested);
      if (key.keyId !== named) throw new KmsError("IncorrectKeyException", "The key ID in the request does not identify a CMK that can perform this operation.");
    } else {
      key = this.#resolve(named);
    }
    const recipient = this.#recipient(input);
    this.#authorize(caller, "kms:Decrypt", key, recipient);
    this.#requireEnabled(key);
    this.#dryRun(input);
    const plaintext = openBlob(key.keyId, key.backingKey, blob, context);
    if (plaintext === undefined) throw new KmsError("InvalidCiphertextException", "The ciphertext is invalid, or the encryption context does not match.");
    return { KeyId: this.#c.arnOf(key.keyId), EncryptionAlgorithm: SYMMETRIC_DEFAULT, ...this.#release(plaintext, recipient) };
  }

  generateDataKey(input: Input, caller: Caller): Output {
    const key = this.#resolve(requiredString(input, "KeyId", MAX_KEY_ID_CHARS));
    const context = encryptionContext(input);
    const spec = optionalString(input, "KeySpec", 64);
    const count = optionalInteger(input, "NumberOfBytes", 1, 1024);
    if ((spec === undefined) === (count === undefined)) throw validation("Please specify either number of bytes or key spec.");
    if (spec !== undefined && spec !== "AES_256" && spec !== "AES_128") {
      throw validation(`1 validation error detected: Value '${spec.slice(0, 64)}' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]`);
    }
    const recipient = this.#recipient(input);
    this.#authorize(caller, "kms:GenerateDataKey", key, recipient);
    this.#requireEnabled(key);
    this.#dryRun(input);
    const dataKey = new Uint8Array(randomBytes(count ?? (spec === "AES_128" ? 16 : 32)));
    let ciphertext: Uint8Array;
    try {
      ciphertext = sealBlob(key.keyId, key.backingKey, dataKey, context);
    } catch (error) {
      dataKey.fill(0);
      throw error;
    }
    return { CiphertextBlob: base64(ciphertext), KeyId: this.#c.arnOf(key.keyId), ...this.#release(dataKey, recipient) };
  }

  generateRandom(input: Input, caller: Caller): Output {
    const count = optionalInteger(input, "NumberOfBytes", 1, MAX_RANDOM_BYTES);
    if (count === undefined) throw validation("1 validation error detected: Value null at 'numberOfBytes' failed to satisfy constraint: Member must not be null");
    if (field(input, "CustomKeyStoreId") !== undefined) throw new KmsError("CustomKeyStoreNotFoundException", "The simulator has no custom key stores.");
    const recipient = this.#recipient(input);
    this.#authorize(caller, "kms:GenerateRandom", undefined, recipient);
    return this.#release(new Uint8Array(randomBytes(count)), recipient);
  }
}
