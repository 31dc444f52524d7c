// The simulator's STS: temporary credentials it has issued, by access key id. IMDS issues through
// it; the simulated AWS services look credentials up in it (`lookup` is a CredentialLookup for the
// SigV4 verifier), which then answers as AWS does: UnrecognizedClient for a key it never issued, a
// revoked key or a wrong session token, ExpiredToken for a set past its expiration.
import { randomBytes, randomInt } from "node:crypto";

export interface IssuedCredentials {
  /** "ASIA" and 16 base32 characters, like every AWS temporary access key id. */
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  /** Whole seconds, as AWS writes credential times. */
  readonly issuedAt: Date;
  readonly expiration: Date;
  /** The IAM role the credentials act as. */
  readonly roleArn: string;
  readonly accountId: string;
}

/** Expired credentials are still looked up (so that they are refused as expired, not unknown) this long. */
const REMEMBER_EXPIRED_MS = 60 * 60_000;
/** arn:<partition>:iam::<account>:role/<path/><name>, the name 1–64 of [\w+=,.@-]. */
const ROLE_ARN = /^arn:aws[a-z-]*:iam::(\d{12}):role\/(?:[\w+=,.@-]+\/)*([\w+=,.@-]{1,64})$/;
const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** The account and the role name of an IAM role ARN; throws for anything else. */
export function parseRoleArn(roleArn: string): { readonly accountId: string; readonly name: string } {
  const match = ROLE_ARN.exec(roleArn);
  if (match === null) throw new Error(`roleArn "${roleArn}" is not an IAM role ARN`);
  return { accountId: match[1]!, name: match[2]! };
}

function accessKeyId(): string {
  let id = "ASIA";
  for (let i = 0; i < 16; i++) id += BASE32[randomInt(32)];
  return id;
}

export interface SimulatedCredentialStoreOptions {
  /** Default Date.now. */
  readonly now?: () => number;
}

export class SimulatedCredentialStore {
  readonly #now: () => number;
  readonly #issued = new Map<string, { credentials: IssuedCredentials; revoked: boolean }>();

  constructor(options: SimulatedCredentialStoreOptions = {}) {
    this.#now = options.now ?? Date.now;
  }

  /** New temporary credentials for a role, valid from now (whole seconds) for `lifetimeMs` (rounded up to whole seconds). */
  issue(roleArn: string, lifetimeMs: number): IssuedCredentials {
    const { accountId } = parseRoleArn(roleArn);
    if (!Number.isFinite(lifetimeMs) || lifetimeMs <= 0) throw new RangeError("lifetimeMs must be positive");
    this.#prune();
    const now = this.#now();
    let id = accessKeyId();
    while (this.#issued.has(id)) id = accessKeyId();
    const credentials: IssuedCredentials = Object.freeze({
      accessKeyId: id,
      secretAccessKey: randomBytes(30).toString("base64"),
      sessionToken: randomBytes(384).toString("base64"),
      issuedAt: new Date(Math.floor(now / 1000) * 1000),
      expiration: new Date(Math.ceil((now + lifetimeMs) / 1000) * 1000),
      roleArn,
      accountId,
    });
    this.#issued.set(id, { credentials, revoked: false });
    return credentials;
  }

  /**
   * The credentials issued under an access key id, expired ones included (for an hour), so that the
   * caller can tell an expired set from an unknown one; undefined for a key never issued or revoked.
   */
  lookup(accessKeyId: string): IssuedCredentials | undefined {
    const entry = this.#issued.get(accessKeyId);
    return entry === undefined || entry.revoked ? undefined : entry.credentials;
  }

  /** Makes issued credentials useless at once (a role's session revoked in IAM). */
  revoke(accessKeyId: string): boolean {
    const entry = this.#issued.get(accessKeyId);
    if (entry === undefined) return false;
    entry.revoked = true;
    return true;
  }

  #prune(): void {
    const forgetBefore = this.#now() - REMEMBER_EXPIRED_MS;
    for (const [id, { credentials }] of this.#issued) if (credentials.expiration.getTime() < forgetBefore) this.#issued.delete(id);
  }
}
