// The simulator's CA for the enclave's outbound services (PostgreSQL,
// DynamoDB, KMS). In sim mode the enclave reaches them over TLS with
// certificate verification and their real names, exactly as in nitro mode;
// it trusts this CA only there. The CA is kept in the simulator's directory so
// that restarts reuse it and a trusting client keeps working.
import { generateKeyPairSync, randomBytes } from "node:crypto";
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
  loadOrCreateStoredCa,
  OID,
  subjectAltNameExtension,
  subjectKeyIdentifierExtension,
  type StoredCa,
} from "@strongroom/nitro";

/** The private key (PKCS#8 DER, mode 0600) and the certificate (PEM, mode 0644, what clients are told to trust). */
const KEY_FILE = "services-ca.key";
const CERTIFICATE_FILE = "services-ca.pem";

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

/** The service CA kept in `dir`: created there on first use (an ECDSA P-384 key and a self-signed certificate) and reused afterwards. */
export function loadOrCreateServiceCa(dir: string): ServiceCa {
  const issuer = loadOrCreateStoredCa({
    directory: dir,
    keyFile: KEY_FILE,
    certificateFile: CERTIFICATE_FILE,
    description: "service CA",
    template: {
      subject: encodeName([...ORGANIZATION, ["CN", "strongroom simulator services CA"]]),
      lifetimeMs: CA_LIFETIME,
      extensions: (keyId) => [basicConstraintsExtension(true, 0), keyUsageExtension(KEY_USAGE.keyCertSign | KEY_USAGE.cRLSign, true), subjectKeyIdentifierExtension(keyId)],
    },
    check: refuseExpired,
  });
  return {
    certificatePem: derToPem(issuer.der),
    certificatePath: issuer.certificatePath,
    issueServerCertificate: (names) => issueServerCertificate(issuer, names, new Date()),
  };
}

function issueServerCertificate(issuer: StoredCa, names: readonly string[], now: Date): ServerCertificate {
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

/** A stored CA past its end would issue certificates no client accepts: refused, with what to do instead. */
function refuseExpired(ca: StoredCa): void {
  if (ca.notAfter.getTime() <= Date.now()) {
    throw new Error(`the service CA in ${ca.certificatePath} expired at ${ca.notAfter.toISOString()}; remove ${KEY_FILE} and ${CERTIFICATE_FILE} to start a new one`);
  }
}

function wholeSeconds(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}
