// The service CA: where and how it is kept, what it refuses to load, and the
// server certificates it issues, read back with Node's own X.509 parser.
import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OID, pemToDer, readBoolean, readChildren, readDer, readOid, TAG } from "@strongroom/nitro";
import { describe, expect, test } from "vitest";
import { loadOrCreateServiceCa } from "../src/index.ts";

const DAY = 24 * 3600_000;
const newDirectory = () => join(mkdtempSync(join(tmpdir(), "strongroom-service-ca-")), "ca");
const NAMES = ["postgres.sim.strongroom.internal", "dynamodb.us-east-1.sim.strongroom.internal", "127.0.0.1", "::1", "::ffff:192.0.2.7"];

/** A certificate's extensions as (OID, critical) pairs, in order. */
function extensions(pem: string): [string, boolean][] {
  const [tbs] = readChildren(readDer(pemToDer(pem), TAG.sequence, "certificate"));
  const wrapper = readChildren(tbs!).at(-1)!;
  return readChildren(readChildren(wrapper)[0]!).map((extension) => {
    const parts = readChildren(extension);
    return [readOid(parts[0]!, "extnID"), parts.length === 3 && readBoolean(parts[1]!, "critical")];
  });
}

describe("the service CA", () => {
  test("is created on first use with its key private, and reused afterwards", () => {
    const dir = newDirectory();
    const ca = loadOrCreateServiceCa(dir);
    expect(ca.certificatePath).toBe(join(dir, "services-ca.pem"));
    expect(statSync(join(dir, "services-ca.key")).mode & 0o777).toBe(0o600);
    expect(statSync(ca.certificatePath).mode & 0o777).toBe(0o644);
    expect(readFileSync(ca.certificatePath, "utf8")).toBe(ca.certificatePem);

    const again = loadOrCreateServiceCa(dir);
    expect(again.certificatePem).toBe(ca.certificatePem);
    // The reloaded key still issues certificates the stored CA certificate verifies.
    const leaf = new X509Certificate(again.issueServerCertificate(["postgres.sim.strongroom.internal"]).certificatePem);
    expect(leaf.verify(new X509Certificate(ca.certificatePem).publicKey)).toBe(true);
  });

  test("is a self-signed ECDSA CA that may issue only end-entity certificates", () => {
    const ca = loadOrCreateServiceCa(newDirectory());
    const certificate = new X509Certificate(ca.certificatePem);
    expect(certificate.ca).toBe(true);
    expect(certificate.checkIssued(certificate)).toBe(true);
    expect(certificate.verify(certificate.publicKey)).toBe(true);
    expect(certificate.publicKey.asymmetricKeyType).toBe("ec");
    expect(extensions(ca.certificatePem)).toEqual([
      [OID.basicConstraints, true],
      [OID.keyUsage, true],
      [OID.subjectKeyIdentifier, false],
    ]);
  });

  test("issues server certificates for DNS names and IP addresses, each with a fresh key", () => {
    const ca = loadOrCreateServiceCa(newDirectory());
    const root = new X509Certificate(ca.certificatePem);
    const issued = ca.issueServerCertificate(NAMES);
    const leaf = new X509Certificate(issued.certificatePem);

    expect(leaf.checkIssued(root)).toBe(true);
    expect(leaf.verify(root.publicKey)).toBe(true);
    expect(leaf.ca).toBe(false);
    expect(leaf.keyUsage).toEqual([OID.serverAuth]);
    expect(leaf.subjectAltName).toBe(
      "DNS:postgres.sim.strongroom.internal, DNS:dynamodb.us-east-1.sim.strongroom.internal, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:0:0:0:0:0:FFFF:C000:207",
    );
    expect(leaf.checkHost("dynamodb.us-east-1.sim.strongroom.internal")).toBe("dynamodb.us-east-1.sim.strongroom.internal");
    expect(leaf.checkHost("kms.us-east-1.sim.strongroom.internal")).toBeUndefined();
    expect(leaf.checkIP("::1")).toBe("::1");
    expect(leaf.checkIP("127.0.0.2")).toBeUndefined();
    expect(extensions(issued.certificatePem)).toEqual([
      [OID.basicConstraints, true],
      [OID.keyUsage, true],
      [OID.extKeyUsage, false],
      [OID.subjectAltName, false],
      [OID.subjectKeyIdentifier, false],
      [OID.authorityKeyIdentifier, false],
    ]);

    const now = Date.now();
    expect(leaf.validFromDate.getTime()).toBeGreaterThan(now - DAY - 60_000);
    expect(leaf.validFromDate.getTime()).toBeLessThanOrEqual(now - DAY + 1000);
    expect(leaf.validToDate.getTime()).toBeGreaterThan(now + 30 * DAY - 60_000);
    expect(leaf.validToDate.getTime()).toBeLessThanOrEqual(now + 30 * DAY + 1000);

    // The key is the certificate's, and a second certificate has another.
    const publicKey = createPublicKey(createPrivateKey(issued.keyPem));
    expect(publicKey.equals(leaf.publicKey)).toBe(true);
    const second = new X509Certificate(ca.issueServerCertificate(NAMES).certificatePem);
    expect(second.publicKey.equals(leaf.publicKey)).toBe(false);
    expect(second.serialNumber).not.toBe(leaf.serialNumber);
  });

  test("refuses names that are neither DNS names nor IP addresses", () => {
    const ca = loadOrCreateServiceCa(newDirectory());
    for (const names of [[], [""], ["bad name"], ["under_score.example"], ["-leading.example"], ["fe80::1%eth0"], [`${"a".repeat(64)}.example`]]) {
      expect(() => ca.issueServerCertificate(names)).toThrow(TypeError);
    }
  });

  test("refuses a key file open to group or others, and says how to fix it", () => {
    const dir = newDirectory();
    loadOrCreateServiceCa(dir);
    const keyPath = join(dir, "services-ca.key");
    for (const mode of [0o644, 0o640, 0o604]) {
      chmodSync(keyPath, mode);
      expect(() => loadOrCreateServiceCa(dir)).toThrow(`it must be 0600 (chmod 600 ${keyPath})`);
    }
    chmodSync(keyPath, 0o600);
    expect(() => loadOrCreateServiceCa(dir)).not.toThrow();
  });

  test("refuses an incomplete or mismatched CA rather than silently starting another", () => {
    const dir = newDirectory();
    const ca = loadOrCreateServiceCa(dir);
    const other = newDirectory();
    loadOrCreateServiceCa(other);
    copyFileSync(join(other, "services-ca.key"), join(dir, "services-ca.key"));
    expect(() => loadOrCreateServiceCa(dir)).toThrow(/services-ca\.key is not the key of the certificate in .*services-ca\.pem/);

    rmSync(ca.certificatePath);
    expect(() => loadOrCreateServiceCa(dir)).toThrow(/is incomplete/);
  });
});
