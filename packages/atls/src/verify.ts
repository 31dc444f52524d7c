// Client-side verification of an aTLS peer: its certificate carries an NSM
// document that verifies under the pinned root, whose user_data binds the
// certificate's key, and whose PCRs satisfy the policy (a manifest, or the
// pins recorded on first use).
import { AttestationError, readRootCertificate, verifyAttestationDocument, type AttestationFailure, type PcrSet, type VerifiedAttestation } from "@strongroom/nitro";
import { keyBinding } from "./binding.ts";
import { readAtlsCertificate } from "./certificate.ts";
import { AtlsVerificationError } from "./errors.ts";
import { checkPins } from "./pins.ts";

export type { PcrSet } from "@strongroom/nitro";

/** Which enclaves to trust: those whose PCRs match one of the manifest's sets, or those matching the PCRs pinned on first use. */
export type PcrPolicy = { readonly kind: "manifest"; readonly sets: readonly PcrSet[] } | { readonly kind: "tofu"; readonly pinFile: string };

export interface AtlsVerifyOptions {
  readonly pcrPolicy: PcrPolicy;
  /** The root the NSM's chain must end in, DER or PEM; default AWS Nitro Enclaves Root G1. A simulator's root only when given. */
  readonly root?: Uint8Array | string;
  /** Accept debug-mode enclaves (PCR0 all zero), whose memory their host can read. Never in production. */
  readonly allowDebug?: boolean;
  /** The oldest acceptable document; default 4 h (servers re-issue hourly). */
  readonly maxAgeMs?: number;
  /** Clock; default the system clock. */
  readonly now?: () => Date;
}

export interface VerifiedPeer {
  readonly pcrs: ReadonlyMap<number, Uint8Array>;
  readonly moduleId: string;
  /** When the NSM made the certificate's document. */
  readonly timestamp: Date;
  readonly debug: boolean;
  /** Trust on first use: whether this connection recorded the pins or matched them. */
  readonly pinned?: "recorded" | "matched";
  /** The peer's certificate, DER. */
  readonly certificate: Uint8Array;
}

export const DEFAULT_MAX_AGE_MS = 4 * 3600_000;

/** The options checked, with defaults: what each verification uses. */
export interface VerifySettings {
  readonly policy: PcrPolicy;
  readonly root: Uint8Array | undefined;
  readonly allowDebug: boolean;
  readonly maxAgeMs: number;
  readonly now: () => Date;
}

/** Checks the options once; throws TypeError naming a bad one. */
export function verifySettings(options: AtlsVerifyOptions): VerifySettings {
  const policy = options.pcrPolicy;
  if (policy?.kind === "manifest") {
    if (!Array.isArray(policy.sets) || policy.sets.length === 0) throw new TypeError("pcrPolicy.sets is empty, so no enclave could match; give at least one set (readPcrManifest)");
    const empty = policy.sets.findIndex((set) => !(set instanceof Map) || set.size === 0);
    if (empty >= 0) throw new TypeError(`pcrPolicy.sets[${empty}] names no PCR, so every enclave would match it`);
  } else if (policy?.kind === "tofu") {
    if (typeof policy.pinFile !== "string" || policy.pinFile.length === 0) throw new TypeError("pcrPolicy.pinFile must name the file that keeps the pinned PCRs");
  } else {
    throw new TypeError('pcrPolicy must be { kind: "manifest", sets } or { kind: "tofu", pinFile }');
  }
  const maxAgeMs = options.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
  if (!(maxAgeMs >= 0)) throw new TypeError(`maxAgeMs must be a non-negative number of milliseconds, not ${maxAgeMs}`);
  return {
    policy,
    root: options.root === undefined ? undefined : readRootCertificate(options.root),
    allowDebug: options.allowDebug === true,
    maxAgeMs,
    now: options.now ?? (() => new Date()),
  };
}

/**
 * Verifies a peer certificate (DER) as a TLS handshake presented it, in this
 * order: the attestation extension (one, non-critical) in a well-formed,
 * self-signed certificate; the document (COSE signature, chain to the root
 * and validity at now, debug policy, manifest PCRs, age); its user_data =
 * ATLS_USER_DATA_PREFIX ‖ SHA-384(the certificate's SPKI DER); the
 * certificate's validity at now; then, under trust on first use, the pins
 * (recorded when there are none). Throws AtlsVerificationError.
 */
export function verifyAtlsCertificate(certificateDer: Uint8Array, options: AtlsVerifyOptions): VerifiedPeer {
  return verifyPeer(certificateDer, verifySettings(options));
}

/** verifyAtlsCertificate with options checked beforehand (once per client, not per connection). */
export function verifyPeer(certificateDer: Uint8Array, settings: VerifySettings): VerifiedPeer {
  const now = settings.now();
  const { certificate, document } = readAtlsCertificate(certificateDer);
  const verified = verifyDocument(document, settings, now, "the certificate's attestation document");
  const binding = keyBinding(certificate.spki);
  if (verified.document.userData === undefined || Buffer.compare(verified.document.userData, binding) !== 0) {
    throw new AtlsVerificationError(
      "key-binding",
      "the certificate's attestation document vouches for another key than the certificate's (its user_data is not the aTLS binding of this key): a genuine document copied into an impostor's certificate; do not trust this server",
    );
  }
  if (now < certificate.notBefore || now > certificate.notAfter) {
    throw new AtlsVerificationError(
      "certificate-not-valid",
      `the server's certificate is valid from ${certificate.notBefore.toISOString()} to ${certificate.notAfter.toISOString()}, not at ${now.toISOString()}; check this machine's clock, else the server has stopped re-issuing its certificate`,
    );
  }
  const pinned = settings.policy.kind === "tofu" ? checkPins(settings.policy.pinFile, verified.document.pcrs) : undefined;
  return {
    pcrs: verified.document.pcrs,
    moduleId: verified.document.moduleId,
    timestamp: verified.document.timestamp,
    debug: verified.debug,
    ...(pinned !== undefined && { pinned }),
    certificate: new Uint8Array(certificateDer),
  };
}

const HINTS: Readonly<Record<AttestationFailure, string>> = {
  malformed: "it is not a Nitro attestation document; do not trust this server",
  "invalid-chain": "it is not signed by a genuine Nitro attestation chain; do not trust this server",
  "invalid-signature": "it is not signed by a genuine Nitro Security Module; do not trust this server",
  "untrusted-root": "it does not chain to the trusted root (AWS Nitro Enclaves Root G1 unless another was given); for a simulator, give its attestation-root.pem as the root",
  "not-yet-valid": "check this machine's clock",
  expired: "check this machine's clock; if it is right, the server has stopped re-issuing its certificate",
  "too-old": "check this machine's clock; if it is right, the server has stopped re-issuing its certificate",
  "debug-enclave": "a debug-mode enclave's memory is readable by its host; allow debug enclaves only for testing",
  "pcr-mismatch": "the enclave runs an image the PCR manifest does not list; if it is a deliberate upgrade, add the new image's PCRs to the manifest",
};

/** verifyAttestationDocument under the settings (manifest PCRs included), its refusals as AtlsVerificationErrors naming `what`. */
export function verifyDocument(document: Uint8Array, settings: VerifySettings, now: Date, what: string): VerifiedAttestation {
  try {
    return verifyAttestationDocument(document, {
      now,
      ...(settings.root !== undefined && { root: settings.root }),
      allowDebug: settings.allowDebug,
      maxAge: settings.maxAgeMs,
      ...(settings.policy.kind === "manifest" && { expectedPcrs: settings.policy.sets }),
    });
  } catch (error) {
    if (!(error instanceof AttestationError)) throw error;
    throw new AtlsVerificationError(error.failure, `${what} is refused: ${error.message}; ${HINTS[error.failure]}`, { cause: error });
  }
}
