// The simulator's CA for the enclave's outbound services (PostgreSQL,
// DynamoDB, KMS). In sim mode the enclave reaches them over TLS with
// certificate verification and their real names, exactly as in nitro mode;
// it trusts this CA only there. The CA is kept in the simulator's directory so
// that restarts reuse it and a trusting client keeps working.
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import { closeSync, fchmodSync, fstatSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  authorityKeyIdentifierExtension,
  basicConstraintsExtension,
  buildCertificate,
  derToPem,
  encodeName,
  extendedKeyUsageExtension,
  KEY_USAGE,
  keyIdentifier,
  keyUsageExtension,
  OID,
  pemToDer,
  readCertificate,
  subjectAltNameExtension,
  subjectKeyIdentifierExtension,
} from "@strongroom/nitro";

/** The private key (PKCS#8 DER, mode 0600) and the certificate (PEM, mode 0644, what clients are told to trust). */
const KEY_FILE = "services-ca.key";
const CERTIFICATE_FILE = "services-ca.pem";
const MAX_STORED_FILE_BYTES = 8 * 1024;

const DAY = 24 * 3600_000;
const CA_LIFETIME = 10 * 365 * DAY;
/** A leaf is valid from a day back (the enclave's clock and the host's may differ a little) to 30 days ahead. */
const LEAF_BACKDATE = DAY;
const LEAF_LIFETIME = 30 * DAY;
const ORGANIZATION = [["O", "strongroom"], ["OU", "simulator"]] as const;

export interface ServerCertificate {
  /** PKCS#8 PEM of a key made for this certificate alone. */
  readonly keyPem: string;
  readonly certificatePem: string;
}

export interface ServiceCa {
  /** The CA certificate: what a client of the simulated services trusts. */
  readonly certificatePem: string;
  /** The same certificate as a file. */
  readonly certificatePath: string;
  /** A TLS server certificate (serverAuth) for these DNS names and IP addresses, with a fresh key. Throws TypeError for a name that is neither. */
  issueServerCertificate(names: readonly string[]): ServerCertificate;
}

/** A CA certificate with its private key. */
interface Issuer {
  readonly der: Uint8Array;
  readonly subject: Uint8Array;
  readonly privateKey: KeyObject;
  readonly keyId: Uint8Array;
  readonly notAfter: Date;
}

/** The service CA kept in `dir`: created there on first use (an ECDSA P-384 key and a self-signed certificate) and reused afterwards. */
export function loadOrCreateServiceCa(dir: string): ServiceCa {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keyPath = join(dir, KEY_FILE);
  const certificatePath = join(dir, CERTIFICATE_FILE);
  const issuer = loadIssuer(dir, keyPath, certificatePath) ?? createIssuer(keyPath, certificatePath, new Date());
  return {
    certificatePem: derToPem(issuer.der),
    certificatePath,
    issueServerCertificate: (names) => issueServerCertificate(issuer, names, new Date()),
  };
}

function issueServerCertificate(issuer: Issuer, names: readonly string[], now: Date): ServerCertificate {
  // Validated first, so that a bad name costs no key.
  const subjectAltName = subjectAltNameExtension(names);
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const notBefore = wholeSeconds(new Date(now.getTime() - LEAF_BACKDATE));
  const notAfter = new Date(Math.min(now.getTime() + LEAF_LIFETIME, issuer.notAfter.getTime()));
  const der = buildCertificate(
    {
      serialNumber: randomBytes(16),
      issuer: issuer.subject,
      // Names are matched against the subjectAltName alone (RFC 6125); a DNS name may be longer than a CN may be (64).
      subject: encodeName([...ORGANIZATION, ["CN", "strongroom simulated service"]]),
      notBefore,
      notAfter,
      publicKey,
      extensions: [
        basicConstraintsExtension(false),
        keyUsageExtension(KEY_USAGE.digitalSignature, true),
        extendedKeyUsageExtension([OID.serverAuth]),
        subjectAltName,
        subjectKeyIdentifierExtension(keyIdentifier(publicKey)),
        authorityKeyIdentifierExtension(issuer.keyId),
      ],
    },
    issuer.privateKey,
  );
  return { keyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(), certificatePem: derToPem(der) };
}

function createIssuer(keyPath: string, certificatePath: string, now: Date): Issuer {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-384" });
  const subject = encodeName([...ORGANIZATION, ["CN", "strongroom simulator services CA"]]);
  const keyId = keyIdentifier(publicKey);
  const notBefore = wholeSeconds(now);
  const notAfter = new Date(notBefore.getTime() + CA_LIFETIME);
  const der = buildCertificate(
    {
      serialNumber: randomBytes(16),
      issuer: subject,
      subject,
      notBefore,
      notAfter,
      publicKey,
      extensions: [basicConstraintsExtension(true, 0), keyUsageExtension(KEY_USAGE.keyCertSign | KEY_USAGE.cRLSign, true), subjectKeyIdentifierExtension(keyId)],
    },
    privateKey,
  );
  const pkcs8 = privateKey.export({ type: "pkcs8", format: "der" });
  try {
    writeAtomically(keyPath, pkcs8, 0o600);
  } finally {
    pkcs8.fill(0);
  }
  writeAtomically(certificatePath, Buffer.from(derToPem(der), "latin1"), 0o644);
  return { der, subject, privateKey, keyId, notAfter };
}

/** The stored CA, or undefined when `dir` has none; throws on a partial, mismatched or expired one. */
function loadIssuer(dir: string, keyPath: string, certificatePath: string): Issuer | undefined {
  const keyBytes = readStored(keyPath, true);
  const pem = readStored(certificatePath, false);
  if (keyBytes === undefined && pem === undefined) return undefined;
  if (keyBytes === undefined || pem === undefined) {
    keyBytes?.fill(0);
    throw new Error(`the service CA in ${dir} is incomplete (one of ${KEY_FILE} and ${CERTIFICATE_FILE} is missing); remove the other to start a new one`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: keyBytes, format: "der", type: "pkcs8" });
  } catch (error) {
    throw new Error(`${keyPath} is not a PKCS#8 private key (${(error as Error).message})`);
  } finally {
    keyBytes.fill(0);
  }
  let certificate: ReturnType<typeof readCertificate>;
  try {
    certificate = readCertificate(pemToDer(pem.toString("latin1")));
  } catch (error) {
    throw new Error(`${certificatePath} is not a service CA certificate (${(error as Error).message})`);
  }
  if (!createPublicKey(privateKey).equals(certificate.publicKey)) throw new Error(`${keyPath} is not the key of the certificate in ${certificatePath}`);
  if (certificate.notAfter.getTime() <= Date.now()) throw new Error(`the service CA in ${certificatePath} expired at ${certificate.notAfter.toISOString()}; remove ${KEY_FILE} and ${CERTIFICATE_FILE} to start a new one`);
  return { der: certificate.der, subject: certificate.subject, privateKey, keyId: keyIdentifier(certificate.publicKey), notAfter: certificate.notAfter };
}

/** A stored file's bytes, or undefined when it does not exist; a private one must not be open to group or others. */
function readStored(path: string, isPrivate: boolean): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new Error(`${path} is not a regular file`);
    if (isPrivate && (stat.mode & 0o077) !== 0) {
      throw new Error(`${path} is readable or writable by group or others (mode ${(stat.mode & 0o777).toString(8)}); it must be 0600 (chmod 600 ${path})`);
    }
    if (stat.size > MAX_STORED_FILE_BYTES) throw new Error(`${path} is larger than ${MAX_STORED_FILE_BYTES} bytes`);
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Readers see the old file or the whole new one, never a part; the mode is exact whatever the umask. */
function writeAtomically(path: string, data: Uint8Array, mode: number): void {
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  const fd = openSync(temporary, "wx", mode);
  try {
    fchmodSync(fd, mode);
    writeFileSync(fd, data);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
}

function wholeSeconds(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}
