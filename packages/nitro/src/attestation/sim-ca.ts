// A stand-in for AWS's Nitro attestation PKI, for the NSM simulator: a P-384
// chain root → regional → zonal → instance → signing certificate shaped like
// AWS's (subjects, extensions, path lengths, lifetimes), issuing documents
// byte-compatible with real ones. Its root is kept in the simulator's
// directory so restarts reuse it; nothing trusts it unless given it
// explicitly (`verifyAttestationDocument(doc, { root: ca.rootCertificate })`).
import { generateKeyPairSync, randomBytes, randomUUID } from "node:crypto";
import {
  authorityKeyIdentifierExtension,
  basicConstraintsExtension,
  buildCertificate,
  crlDistributionPointExtension,
  encodeName,
  keyIdentifier,
  keyUsageExtension,
  subjectKeyIdentifierExtension,
} from "../x509/certificate-builder.ts";
import { signCoseSign1 } from "./cose-sign1.ts";
import { encodeAttestationPayload, parseAttestationPayload } from "./document.ts";
import { AttestationError } from "./errors.ts";
import { KEY_USAGE } from "../x509/certificate.ts";
import { loadOrCreateStoredCa, type StoredCa } from "../x509/stored-ca.ts";

/** The private key (PKCS#8 DER, mode 0600) and the certificate (PEM, for `strongroom attest verify --root`). */
const ROOT_KEY_FILE = "attestation-root.key";
const ROOT_CERTIFICATE_FILE = "attestation-root.pem";

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const ROOT_LIFETIME = 30 * 365 * DAY;
/** Certificates expire after these spans, as AWS's do (regional 20 days, zonal about 6, instance 1, signing certificate 3 hours). */
const REGIONAL_LIFETIME = 20 * DAY;
const ZONAL_LIFETIME = 6 * DAY;
const INSTANCE_LIFETIME = DAY;
const SIGNING_LIFETIME = 3 * HOUR;
/**
 * Every certificate of a document's chain stays valid at least this long
 * after the document's timestamp; a certificate closer to expiry is replaced
 * (with everything below it) before signing. aTLS re-issues its document
 * every hour, so each one must stay verifiable for that hour and more.
 */
const MIN_REMAINING = 2 * HOUR;
/** The simulator's partition and region, in the places AWS's names carry aws and us-east-1. */
const PARTITION = "simulator";
const REGION = "local-1";
const ORGANIZATION = [["O", "strongroom"], ["OU", "simulator"]] as const;

export interface SimulatedCa {
  readonly directory: string;
  /** DER of the simulated root: what a verifier is given as `root` to accept simulated documents. */
  readonly rootCertificate: Uint8Array;
  /** The same certificate as a PEM file. */
  readonly rootCertificatePath: string;
}

export interface SimulatedDocumentFields {
  readonly moduleId: string;
  readonly timestamp: Date;
  readonly pcrs: ReadonlyMap<number, Uint8Array>;
  readonly publicKey?: Uint8Array;
  readonly userData?: Uint8Array;
  readonly nonce?: Uint8Array;
}

/** A certificate with its private key, able to issue: the root, or one the chain below it holds in memory alone. */
type Issuer = Omit<StoredCa, "certificatePath">;

/** One level below the root: how its certificate is named and constrained. */
interface Level {
  readonly lifetime: number;
  /** A new certificate's subject; hosts get new random names, as AWS's do. */
  subject(moduleId: string): Uint8Array;
  extensions(subjectKeyId: Uint8Array, issuerKeyId: Uint8Array): Uint8Array[];
}

const hostId = () => randomBytes(8).toString("hex");
const instanceId = () => `i-${randomBytes(9).toString("hex").slice(1)}`;
const crlUri = () => `http://crl.${REGION}.${PARTITION}.invalid/crl/${randomUUID()}.crl`;
const CA_KEY_USAGE = KEY_USAGE.digitalSignature | KEY_USAGE.keyCertSign | KEY_USAGE.cRLSign;

// The subjects, attribute orders and extensions (and their order) of AWS's
// regional, zonal, instance and signing certificates, in the simulator's names.
const LEVELS: readonly Level[] = [
  {
    lifetime: REGIONAL_LIFETIME,
    subject: () => encodeName([["C", "US"], ...ORGANIZATION, ["CN", `${hostId()}.${REGION}.${PARTITION}.nitro-enclaves`]]),
    extensions: (ski, aki) => [
      basicConstraintsExtension(true, 2),
      authorityKeyIdentifierExtension(aki),
      subjectKeyIdentifierExtension(ski),
      keyUsageExtension(CA_KEY_USAGE, true),
      crlDistributionPointExtension(crlUri()),
    ],
  },
  {
    lifetime: ZONAL_LIFETIME,
    subject: () => encodeName([["CN", `${hostId()}.zonal.${REGION}.${PARTITION}.nitro-enclaves`], ...[...ORGANIZATION].reverse(), ["C", "US"], ["ST", "WA"], ["L", "Seattle"]]),
    extensions: (ski, aki) => [
      basicConstraintsExtension(true, 1),
      authorityKeyIdentifierExtension(aki),
      subjectKeyIdentifierExtension(ski),
      keyUsageExtension(CA_KEY_USAGE, true),
      crlDistributionPointExtension(crlUri()),
    ],
  },
  {
    lifetime: INSTANCE_LIFETIME,
    subject: () => encodeName([["C", "US"], ["ST", "Washington"], ["L", "Seattle"], ...ORGANIZATION, ["CN", `${instanceId()}.${REGION}.${PARTITION}.nitro-enclaves`]]),
    extensions: (ski, aki) => [
      basicConstraintsExtension(true, 0),
      keyUsageExtension(KEY_USAGE.keyCertSign, true),
      subjectKeyIdentifierExtension(ski),
      authorityKeyIdentifierExtension(aki),
    ],
  },
  {
    lifetime: SIGNING_LIFETIME,
    // AWS names the signing certificate after the module ID.
    subject: (moduleId) => encodeName([["C", "US"], ["ST", "Washington"], ["L", "Seattle"], ...ORGANIZATION, ["CN", `${moduleId}.${REGION}.${PARTITION}`]]),
    extensions: () => [basicConstraintsExtension(false), keyUsageExtension(KEY_USAGE.digitalSignature | KEY_USAGE.nonRepudiation, false)],
  },
];

interface CaState {
  readonly root: Issuer;
  /** Regional, zonal, instance, signing; shorter while none has been made. */
  chain: Issuer[];
  /** The module ID the signing certificate names. */
  signingModuleId?: string;
}

const states = new WeakMap<SimulatedCa, CaState>();

/**
 * The simulated CA kept in `directory`: its root is created there on first
 * use (key mode 0600) and reused afterwards. `now` dates a new root.
 */
export function loadOrCreateSimulatedCa(directory: string, options: { now?: () => Date } = {}): SimulatedCa {
  const root = loadOrCreateStoredCa({
    directory,
    keyFile: ROOT_KEY_FILE,
    certificateFile: ROOT_CERTIFICATE_FILE,
    description: "simulated CA",
    template: {
      subject: encodeName([["C", "US"], ...ORGANIZATION, ["CN", `${PARTITION}.nitro-enclaves`]]),
      lifetimeMs: ROOT_LIFETIME,
      extensions: (keyId) => [basicConstraintsExtension(true), subjectKeyIdentifierExtension(keyId), keyUsageExtension(CA_KEY_USAGE, true)],
    },
    now: options.now,
  });
  const ca: SimulatedCa = { directory, rootCertificate: root.der, rootCertificatePath: root.certificatePath };
  states.set(ca, { root, chain: [] });
  return ca;
}

/**
 * A COSE_Sign1 attestation document (untagged, as the NSM returns it) with
 * these fields, signed by a signing certificate that is valid at the
 * timestamp and at least MIN_REMAINING after it; certificates are replaced
 * as they near expiry.
 */
export function issueAttestationDocument(ca: SimulatedCa, fields: SimulatedDocumentFields): Uint8Array {
  const state = states.get(ca);
  if (state === undefined) throw new TypeError("not a simulated CA from loadOrCreateSimulatedCa");
  const at = fields.timestamp;
  if (!covers(state.root, at)) throw new RangeError(`the simulated root (valid ${state.root.notBefore.toISOString()} to ${state.root.notAfter.toISOString()}) does not cover ${at.toISOString()}`);
  refreshChain(state, at, fields.moduleId);
  const signing = state.chain[state.chain.length - 1]!;
  const payload = encodeAttestationPayload({
    moduleId: fields.moduleId,
    digest: "SHA384",
    timestamp: at,
    timestampMs: at.getTime(),
    pcrs: fields.pcrs,
    certificate: signing.der,
    cabundle: [state.root.der, ...state.chain.slice(0, -1).map((issuer) => issuer.der)],
    publicKey: fields.publicKey,
    userData: fields.userData,
    nonce: fields.nonce,
  });
  // As the NSM refuses oversized user data, the simulator signs nothing a verifier would reject as malformed.
  try {
    parseAttestationPayload(payload);
  } catch (error) {
    if (error instanceof AttestationError) throw new RangeError(`cannot issue this attestation document: ${error.message}`);
    throw error;
  }
  return new Uint8Array(signCoseSign1(payload, signing.privateKey));
}

function covers(certificate: Issuer, at: Date, remaining = 0): boolean {
  return certificate.notBefore <= at && at.getTime() + remaining <= certificate.notAfter.getTime();
}

/** Keeps each certificate that covers [at, at + MIN_REMAINING] under an unchanged issuer (and, for the signing one, names the module); replaces the rest. */
function refreshChain(state: CaState, at: Date, moduleId: string): void {
  LEVELS.forEach((level, index) => {
    const current = state.chain[index];
    const isSigning = index === LEVELS.length - 1;
    const keep = current !== undefined && covers(current, at, MIN_REMAINING) && (!isSigning || state.signingModuleId === moduleId);
    if (keep) return;
    const issuer = index === 0 ? state.root : state.chain[index - 1]!;
    state.chain.length = index;
    state.chain.push(issue(level, issuer, at, moduleId, isSigning));
    if (isSigning) state.signingModuleId = moduleId;
  });
}

function issue(level: Level, issuer: Issuer, at: Date, moduleId: string, isSigning: boolean): Issuer {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-384" });
  const notBefore = wholeSeconds(at);
  // A certificate never outlives its issuer.
  const notAfter = new Date(Math.min(notBefore.getTime() + level.lifetime, issuer.notAfter.getTime()));
  const subject = level.subject(moduleId);
  const keyId = keyIdentifier(publicKey);
  const der = buildCertificate(
    {
      serialNumber: isSigning ? signingSerial(notBefore) : randomBytes(16),
      issuer: issuer.subject,
      subject,
      notBefore,
      notAfter,
      publicKey,
      extensions: level.extensions(keyId, issuer.keyId),
    },
    issuer.privateKey,
  );
  return { der, subject, privateKey, keyId, notBefore, notAfter };
}

/** Like AWS's: an 8-byte enclave ID, four zero bytes, then the issuing second. */
function signingSerial(notBefore: Date): Uint8Array {
  const serial = Buffer.alloc(16);
  randomBytes(8).copy(serial);
  serial.writeUInt32BE(Math.floor(notBefore.getTime() / 1000) >>> 0, 12);
  return serial;
}

function wholeSeconds(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}
