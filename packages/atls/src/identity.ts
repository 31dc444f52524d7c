// The server's attested identity: an ephemeral P-384 key, an NSM document
// that binds it, and the self-signed certificate that carries the document.
// Re-issued (new key, new document) well inside the life of the NSM's
// signing certificate (about 3 h), every hour by default.
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { derToPem, subjectAltNameExtension, type NsmClient } from "@strongroom/nitro";
import { keyBinding } from "./binding.ts";
import { buildAtlsCertificate } from "./certificate.ts";
import { privateKeyPem } from "./private-key-pem.ts";

const MINUTE = 60_000;
export const DEFAULT_ROTATE_EVERY_MS = 60 * MINUTE;
/** A document must still verify when its certificate is replaced: the NSM's signing certificate lives about 3 h. */
export const MAX_ROTATE_EVERY_MS = 120 * MINUTE;
/** notBefore lies this far back, for clients whose clock runs a little behind the enclave's. */
const CLOCK_SKEW_MS = MINUTE;
/** notAfter lies this far past the next rotation, so a late rotation (a retry after an NSM failure) finds the old certificate still valid. */
const ROTATION_MARGIN_MS = 15 * MINUTE;

export interface AtlsIdentityOptions {
  /** The NSM that attests each new key. */
  readonly nsm: NsmClient;
  /** DNS names and IP addresses for the certificate's subjectAltName (none: no extension). */
  readonly subjectAltNames: readonly string[];
  /** How often a new key, document and certificate replace the current ones; default 60 min, at most 120 min. */
  readonly rotateEveryMs?: number;
  /** Clock for the certificate's validity; default the system clock. */
  readonly now?: () => Date;
}

interface Issued {
  readonly privateKey: KeyObject;
  readonly certificate: Uint8Array;
  readonly certificatePem: string;
}

/** What every issue uses: the checked options. */
interface Settings {
  readonly nsm: NsmClient;
  readonly subjectAltName: Uint8Array | undefined;
  readonly rotateEveryMs: number;
  readonly now: () => Date;
}

export class AtlsIdentity {
  readonly #settings: Settings;
  readonly #listeners = new Set<() => void>();
  #current: Issued;

  private constructor(settings: Settings, first: Issued) {
    this.#settings = settings;
    this.#current = first;
  }

  /** Checks the options, then issues the first key, document and certificate. */
  static async create(options: AtlsIdentityOptions): Promise<AtlsIdentity> {
    const rotateEveryMs = options.rotateEveryMs ?? DEFAULT_ROTATE_EVERY_MS;
    if (!Number.isFinite(rotateEveryMs) || rotateEveryMs <= 0 || rotateEveryMs > MAX_ROTATE_EVERY_MS) {
      throw new RangeError(`rotateEveryMs must be more than 0 and at most ${MAX_ROTATE_EVERY_MS} ms (2 h), so that each document verifies for its certificate's whole life; got ${rotateEveryMs}`);
    }
    if (!Array.isArray(options.subjectAltNames) || !options.subjectAltNames.every((name) => typeof name === "string")) {
      throw new TypeError("subjectAltNames must be a list of DNS names and IP addresses");
    }
    const settings: Settings = {
      nsm: options.nsm,
      subjectAltName: options.subjectAltNames.length === 0 ? undefined : subjectAltName(options.subjectAltNames),
      rotateEveryMs,
      now: options.now ?? (() => new Date()),
    };
    return new AtlsIdentity(settings, await issue(settings));
  }

  /** How often `createAtlsServer` rotates this identity. */
  get rotateEveryMs(): number {
    return this.#settings.rotateEveryMs;
  }

  /** The current certificate, DER. */
  get certificate(): Uint8Array {
    return this.#current.certificate;
  }

  /**
   * The current key and certificate for `tls.createSecureContext` or
   * `server.setSecureContext`. The key is PKCS#8 PEM in a new Buffer (Node's
   * TLS takes no KeyObject): zero it (`key.fill(0)`) once the context is made.
   */
  secureContextOptions(): { key: Buffer; cert: string } {
    return { key: privateKeyPem(this.#current.privateKey), cert: this.#current.certificatePem };
  }

  /** Replaces the key, document and certificate, then tells the `onRotate` listeners. The old ones stay if the NSM fails. */
  async rotate(): Promise<void> {
    this.#current = await issue(this.#settings);
    for (const listener of this.#listeners) listener();
  }

  /** Calls `listener` after each rotation (to install the new certificate); returns the function that stops it. */
  onRotate(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

async function issue({ nsm, subjectAltName, rotateEveryMs, now }: Settings): Promise<Issued> {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-384" });
  const spki = new Uint8Array(publicKey.export({ type: "spki", format: "der" }));
  const document = await nsm.attestation({ userData: keyBinding(spki) });
  const at = now().getTime();
  const certificate = buildAtlsCertificate({
    publicKey,
    privateKey,
    document,
    subjectAltName,
    notBefore: new Date(at - CLOCK_SKEW_MS),
    notAfter: new Date(at + rotateEveryMs + ROTATION_MARGIN_MS),
  });
  return { privateKey, certificate, certificatePem: derToPem(certificate) };
}

/** The extension for these names; a bad name's TypeError says which option it came from. */
function subjectAltName(names: readonly string[]): Uint8Array {
  try {
    return subjectAltNameExtension(names);
  } catch (error) {
    if (error instanceof TypeError) throw new TypeError(`subjectAltNames: ${error.message}`);
    throw error;
  }
}
