// A self-signed CA kept in a directory, for the simulator's CAs (the NSM
// simulator's attestation root, the outbound services' CA): created there on
// first use and reused afterwards, so that restarts keep it and whoever was
// told to trust it keeps working. A store that is partial, mismatched, open
// to others or otherwise suspect is refused, never silently replaced.
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import { closeSync, fchmodSync, fstatSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readCertificate, type Certificate } from "./certificate.ts";
import { buildCertificate, keyIdentifier } from "./certificate-builder.ts";
import { derToPem, pemToDer } from "./pem.ts";

const MAX_STORED_FILE_BYTES = 8 * 1024;

export interface StoredCaOptions {
  /** Created (mode 0700) if missing. */
  readonly directory: string;
  /** The private key's file name: PKCS#8 DER, mode 0600. */
  readonly keyFile: string;
  /** The certificate's file name: PEM, mode 0644, what a verifier is given. */
  readonly certificateFile: string;
  /** How error messages name the CA, e.g. "service CA". */
  readonly description: string;
  /** What a new CA's self-signed certificate says; its key is a new ECDSA P-384 one, its serial number random. */
  readonly template: {
    readonly subject: Uint8Array;
    readonly lifetimeMs: number;
    extensions(keyId: Uint8Array): Uint8Array[];
  };
  /** When a new CA's validity starts (in whole seconds); default the system clock. */
  readonly now?: () => Date;
  /** Throws to refuse a stored CA that loaded consistently (an expired one, say). */
  readonly check?: (ca: StoredCa) => void;
}

/** A CA certificate with its private key, able to issue. */
export interface StoredCa {
  readonly der: Uint8Array;
  readonly subject: Uint8Array;
  readonly privateKey: KeyObject;
  readonly keyId: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The certificate's file. */
  readonly certificatePath: string;
}

/** The CA stored in `options.directory`, or a new one stored there; throws on a partial, mismatched or unsafe store. */
export function loadOrCreateStoredCa(options: StoredCaOptions): StoredCa {
  mkdirSync(options.directory, { recursive: true, mode: 0o700 });
  const keyPath = join(options.directory, options.keyFile);
  const certificatePath = join(options.directory, options.certificateFile);
  const loaded = load(options, keyPath, certificatePath);
  if (loaded === undefined) return create(options, keyPath, certificatePath);
  options.check?.(loaded);
  return loaded;
}

function create(options: StoredCaOptions, keyPath: string, certificatePath: string): StoredCa {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-384" });
  const { subject } = options.template;
  const keyId = keyIdentifier(publicKey);
  const notBefore = wholeSeconds(options.now?.() ?? new Date());
  const notAfter = new Date(notBefore.getTime() + options.template.lifetimeMs);
  const der = buildCertificate(
    { serialNumber: randomBytes(16), issuer: subject, subject, notBefore, notAfter, publicKey, extensions: options.template.extensions(keyId) },
    privateKey,
  );
  const pkcs8 = privateKey.export({ type: "pkcs8", format: "der" });
  try {
    writeAtomically(keyPath, pkcs8, 0o600);
  } finally {
    pkcs8.fill(0);
  }
  writeAtomically(certificatePath, Buffer.from(derToPem(der), "latin1"), 0o644);
  return { der, subject, privateKey, keyId, notBefore, notAfter, certificatePath };
}

/** The stored CA, or undefined when the directory has none; throws on a partial or mismatched one. */
function load(options: StoredCaOptions, keyPath: string, certificatePath: string): StoredCa | undefined {
  const keyBytes = readStored(keyPath, true);
  const pem = readStored(certificatePath, false);
  if (keyBytes === undefined && pem === undefined) return undefined;
  if (keyBytes === undefined || pem === undefined) {
    keyBytes?.fill(0);
    throw new Error(
      `the ${options.description} in ${options.directory} is incomplete (one of ${options.keyFile} and ${options.certificateFile} is missing); remove the other to start a new one`,
    );
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: keyBytes, format: "der", type: "pkcs8" });
  } catch (error) {
    throw new Error(`${keyPath} is not a PKCS#8 private key (${(error as Error).message})`);
  } finally {
    keyBytes.fill(0);
  }
  let certificate: Certificate;
  try {
    certificate = readCertificate(pemToDer(pem.toString("latin1")));
  } catch (error) {
    throw new Error(`${certificatePath} is not a ${options.description} certificate (${(error as Error).message})`);
  }
  if (!createPublicKey(privateKey).equals(certificate.publicKey)) throw new Error(`${keyPath} is not the key of the certificate in ${certificatePath}`);
  return {
    der: certificate.der,
    subject: certificate.subject,
    privateKey,
    keyId: keyIdentifier(certificate.publicKey),
    notBefore: certificate.notBefore,
    notAfter: certificate.notAfter,
    certificatePath,
  };
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

/** Certificates carry whole seconds; the CA in memory says what its stored certificate says. */
function wholeSeconds(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}
