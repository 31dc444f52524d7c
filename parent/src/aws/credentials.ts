// The parent's own AWS credentials, as the enclave needs them for KMS and DynamoDB: an access key
// id, its secret, a session token for temporary credentials, and when they stop working.
//
// DESIGN.md §1 counts these credentials as harmless to disclose to the parent (they are its own),
// but they are still secrets to everyone else: logs are shipped off the host. So the secret and the
// session token sit in private fields, reached only through their getters; JSON.stringify, pino,
// util.inspect and object spread see the redacted summary instead. Whatever sends them on (the
// control channel) names the fields it copies.
import { inspect } from "node:util";

/** Where a set of credentials came from. */
export type CredentialSourceName = "environment" | "imds" | "container";

/** AWS's constraints on an access key id (STS Credentials: 16–128 word characters). */
const ACCESS_KEY_ID = /^\w{16,128}$/;
/** A secret access key: printable ASCII without spaces (AWS issues 40 characters). */
const SECRET_ACCESS_KEY = /^[\x21-\x7e]{1,256}$/;
/** A session token: printable ASCII without spaces; AWS sets no documented bound, tagged sessions reach a few KiB. */
const SESSION_TOKEN = /^[\x21-\x7e]+$/;
export const SESSION_TOKEN_MAX_LENGTH = 16_384;

export interface AwsCredentialFields {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string | undefined;
  /** When the credentials stop working; undefined for long-term keys. */
  readonly expiration?: Date | undefined;
}

/** What may be logged about a set of credentials: never the secret or the session token. */
export interface CredentialSummary {
  readonly source: CredentialSourceName;
  /** Access key ids are not secret (they appear in CloudTrail and in every signed request). */
  readonly accessKeyId: string;
  readonly temporary: boolean;
  readonly expiration: string | null;
}

/** Thrown for credentials that a source handed over in a shape AWS would never accept. */
export class InvalidCredentialsError extends Error {
  override readonly name = "InvalidCredentialsError";
}

function check(fields: AwsCredentialFields): void {
  // Messages name the field and never quote the value.
  if (typeof fields.accessKeyId !== "string" || !ACCESS_KEY_ID.test(fields.accessKeyId)) throw new InvalidCredentialsError("access key id is not 16-128 word characters");
  if (typeof fields.secretAccessKey !== "string" || !SECRET_ACCESS_KEY.test(fields.secretAccessKey)) throw new InvalidCredentialsError("secret access key is empty, too long or not printable ASCII");
  const token = fields.sessionToken;
  if (token !== undefined && (typeof token !== "string" || token.length > SESSION_TOKEN_MAX_LENGTH || !SESSION_TOKEN.test(token))) {
    throw new InvalidCredentialsError(`session token is empty, longer than ${SESSION_TOKEN_MAX_LENGTH} characters or not printable ASCII`);
  }
  const expiration = fields.expiration;
  if (expiration !== undefined && (!(expiration instanceof Date) || Number.isNaN(expiration.getTime()))) throw new InvalidCredentialsError("expiration is not a valid time");
}

export class AwsCredentials {
  readonly source: CredentialSourceName;
  readonly accessKeyId: string;
  readonly expiration: Date | undefined;
  readonly #secretAccessKey: string;
  readonly #sessionToken: string | undefined;

  /** Throws InvalidCredentialsError when a field has a shape AWS would refuse. */
  constructor(source: CredentialSourceName, fields: AwsCredentialFields) {
    check(fields);
    this.source = source;
    this.accessKeyId = fields.accessKeyId;
    this.expiration = fields.expiration === undefined ? undefined : new Date(fields.expiration.getTime());
    this.#secretAccessKey = fields.secretAccessKey;
    this.#sessionToken = fields.sessionToken;
    Object.freeze(this);
  }

  get secretAccessKey(): string {
    return this.#secretAccessKey;
  }

  get sessionToken(): string | undefined {
    return this.#sessionToken;
  }

  /** Milliseconds of life left at `now` (negative once expired); Infinity for long-term keys. */
  remainingMs(now: number = Date.now()): number {
    return this.expiration === undefined ? Infinity : this.expiration.getTime() - now;
  }

  summary(): CredentialSummary {
    return { source: this.source, accessKeyId: this.accessKeyId, temporary: this.#sessionToken !== undefined, expiration: this.expiration?.toISOString() ?? null };
  }

  toJSON(): CredentialSummary {
    return this.summary();
  }

  [inspect.custom](): string {
    return `AwsCredentials ${inspect(this.summary())}`;
  }
}
