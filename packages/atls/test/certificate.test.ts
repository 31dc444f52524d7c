// The aTLS certificate as a server issues it, field by field, and the
// refusals of certificates that are not quite it; the fixed OID; the private
// key PEM that never becomes a string.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, verify } from "node:crypto";
import { createSecureContext } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  basicConstraintsExtension,
  buildCertificate,
  derOid,
  derToPem,
  encodeExtension,
  encodeName,
  readCertificate,
  readChildren,
  readDer,
  readOid,
  TAG,
  verifyAttestationDocument,
} from "@strongroom/nitro";
import {
  ATLS_USER_DATA_PREFIX,
  ATTESTATION_EXTENSION_OID,
  AtlsIdentity,
  AtlsVerificationError,
  buildAtlsCertificate,
  keyBinding,
  MAX_ATLS_CERTIFICATE_BYTES,
  readAtlsCertificate,
  verifyAtlsCertificate,
} from "../src/index.ts";
import { privateKeyPem } from "../src/private-key-pem.ts";
import { bootEnclave, createWorld, newKey, type Enclave, type World } from "./support.ts";

let world: World;
let enclave: Enclave;

beforeAll(async () => {
  world = createWorld();
  enclave = await bootEnclave({ simDir: world.simDir, applicationDir: world.appDir });
});
afterAll(() => world.cleanup());

const refusal = (run: () => unknown): AtlsVerificationError => {
  try {
    run();
  } catch (error) {
    if (error instanceof AtlsVerificationError) return error;
    throw error;
  }
  throw new Error("expected an AtlsVerificationError");
};

describe("the attestation extension's OID", () => {
  it("is 2.25 and the decimal value of the UUID chosen for it, and survives DER both ways", () => {
    const uuid = "d197c5b9-4d7f-4033-95d0-9cb31724f5fd";
    expect(ATTESTATION_EXTENSION_OID).toBe(`2.25.${BigInt(`0x${uuid.replaceAll("-", "")}`)}`);
    const encoded = derOid(ATTESTATION_EXTENSION_OID);
    expect(readOid(readDer(encoded, TAG.oid, "oid"), "oid")).toBe(ATTESTATION_EXTENSION_OID);
  });
});

describe("an aTLS identity's certificate", () => {
  it("is self-signed P-384/SHA-384 for a fresh key, CN=strongroom aTLS, with its names and the raw document in a non-critical extension", async () => {
    const at = new Date("2030-01-02T03:04:05Z");
    const identity = await AtlsIdentity.create({ nsm: enclave.nsm, subjectAltNames: ["signer.example", "127.0.0.1", "::1", "::ffff:192.0.2.1"], rotateEveryMs: 30 * 60_000, now: () => at });
    const certificate = readCertificate(identity.certificate);
    expect(certificate.subjectName).toBe("CN=strongroom aTLS");
    expect(Buffer.compare(certificate.issuer, certificate.subject)).toBe(0);
    expect(verify("sha384", certificate.tbs, { key: certificate.publicKey, dsaEncoding: "der" }, certificate.signature)).toBe(true);
    expect(certificate.publicKey.asymmetricKeyDetails?.namedCurve).toBe("secp384r1");
    expect(certificate.notBefore).toEqual(new Date(at.getTime() - 60_000));
    expect(certificate.notAfter).toEqual(new Date(at.getTime() + 30 * 60_000 + 15 * 60_000));
    expect(certificate.basicConstraints).toEqual({ ca: false });
    expect(certificate.extensions.map(({ oid, critical }) => [oid, critical])).toEqual([
      ["2.5.29.19", true],
      ["2.5.29.15", true],
      ["2.5.29.17", false],
      [ATTESTATION_EXTENSION_OID, false],
    ]);

    const names = readChildren(readDer(certificate.extensions[2]!.value, TAG.sequence, "subjectAltName")).map((name) => [name.tag, Buffer.from(name.content).toString("hex")]);
    expect(names).toEqual([
      [0x82, Buffer.from("signer.example").toString("hex")],
      [0x87, "7f000001"],
      [0x87, "00000000000000000000000000000001"],
      [0x87, "00000000000000000000ffffc0000201"],
    ]);

    // extnValue holds the COSE_Sign1 bytes themselves, and that document binds this certificate's key.
    const document = certificate.extensions[3]!.value;
    const verified = verifyAttestationDocument(document, { root: enclave.root });
    const expected = Buffer.concat([Buffer.from(ATLS_USER_DATA_PREFIX), createHash("sha384").update(certificate.spki).digest()]);
    expect(Buffer.from(verified.document.userData!).equals(expected)).toBe(true);
    expect(Buffer.from(certificate.spki).equals(createPublicKey({ key: Buffer.from(certificate.spki), format: "der", type: "spki" }).export({ type: "spki", format: "der" }))).toBe(true);
  });

  it("without names has no subjectAltName extension", async () => {
    const identity = await AtlsIdentity.create({ nsm: enclave.nsm, subjectAltNames: [] });
    expect(readCertificate(identity.certificate).extensions.map(({ oid }) => oid)).toEqual(["2.5.29.19", "2.5.29.15", ATTESTATION_EXTENSION_OID]);
  });

  it("comes with its private key as PEM bytes that TLS accepts and that match the certificate", async () => {
    const identity = await AtlsIdentity.create({ nsm: enclave.nsm, subjectAltNames: ["localhost"] });
    const { key, cert } = identity.secureContextOptions();
    expect(Buffer.isBuffer(key)).toBe(true);
    expect(() => createSecureContext({ key, cert, minVersion: "TLSv1.3" })).not.toThrow();
    const publicKey = createPublicKey(createPrivateKey(key)).export({ type: "spki", format: "der" });
    expect(publicKey.equals(Buffer.from(readCertificate(identity.certificate).spki))).toBe(true);
    expect(cert).toBe(derToPem(identity.certificate));
  });

  it("rotates to a new key, document and certificate, and tells its listeners", async () => {
    const identity = await AtlsIdentity.create({ nsm: enclave.nsm, subjectAltNames: ["localhost"] });
    const before = identity.certificate;
    let told = 0;
    const stop = identity.onRotate(() => void told++);
    await identity.rotate();
    expect(told).toBe(1);
    expect(Buffer.from(readCertificate(identity.certificate).spki).equals(Buffer.from(readCertificate(before).spki))).toBe(false);
    stop();
    await identity.rotate();
    expect(told).toBe(1);
  });

  it("refuses bad names and rotation periods, saying what is allowed", async () => {
    await expect(AtlsIdentity.create({ nsm: enclave.nsm, subjectAltNames: ["bad name!"] })).rejects.toThrow(/"bad name!" is neither an IP address nor a DNS name/);
    await expect(AtlsIdentity.create({ nsm: enclave.nsm, subjectAltNames: ["fe80::1%eth0"] })).rejects.toThrow(/zone index/);
    await expect(AtlsIdentity.create({ nsm: enclave.nsm, subjectAltNames: ["-leading.example"] })).rejects.toThrow(TypeError);
    await expect(AtlsIdentity.create({ nsm: enclave.nsm, subjectAltNames: [], rotateEveryMs: 3 * 3600_000 })).rejects.toThrow(/at most 7200000 ms/);
    await expect(AtlsIdentity.create({ nsm: enclave.nsm, subjectAltNames: [], rotateEveryMs: 0 })).rejects.toThrow(RangeError);
  });
});

describe("IPv6 subjectAltNames", () => {
  it.each([
    ["2001:db8::8a2e:370:7334", "20010db80000000000008a2e03707334"],
    ["1::", "00010000000000000000000000000000"],
    ["::", "00000000000000000000000000000000"],
    ["1:2:3:4:5:6:7:8", "00010002000300040005000600070008"],
    ["::ffff:10.0.0.1", "00000000000000000000ffff0a000001"],
  ])("%s is iPAddress %s", async (address, hex) => {
    const identity = await AtlsIdentity.create({ nsm: enclave.nsm, subjectAltNames: [address] });
    const san = readCertificate(identity.certificate).extensions.find(({ oid }) => oid === "2.5.29.17")!;
    const [name] = readChildren(readDer(san.value, TAG.sequence, "subjectAltName"));
    expect([name!.tag, Buffer.from(name!.content).toString("hex")]).toEqual([0x87, hex]);
  });
});

describe("verifyAtlsCertificate refuses a certificate that is not quite aTLS's", () => {
  const policy = () => ({ pcrPolicy: { kind: "manifest", sets: [enclave.manifest] }, root: enclave.root }) as const;
  /** A document that binds `publicKey`, as a genuine server would make it. */
  const documentFor = async (publicKey: ReturnType<typeof newKey>["publicKey"]) =>
    enclave.nsm.attestation({ userData: keyBinding(new Uint8Array(publicKey.export({ type: "spki", format: "der" }))) });
  const hour = 3600_000;

  it("accepts the genuine one", async () => {
    const identity = await AtlsIdentity.create({ nsm: enclave.nsm, subjectAltNames: ["localhost"] });
    const peer = verifyAtlsCertificate(identity.certificate, policy());
    expect(peer.moduleId).toBe(enclave.device.moduleId);
    expect(peer.debug).toBe(false);
    expect(peer.pinned).toBeUndefined();
    expect(Buffer.from(peer.pcrs.get(0)!).equals(Buffer.from(enclave.manifest.get(0)!))).toBe(true);
  });

  it("with the extension marked critical, or twice, or signed by another key, or too large", async () => {
    const { privateKey, publicKey } = newKey();
    const document = await documentFor(publicKey);
    const name = encodeName([["CN", "strongroom aTLS"]]);
    const build = (extensions: Uint8Array[], signer = privateKey) =>
      buildCertificate({ serialNumber: Uint8Array.of(1), issuer: name, subject: name, notBefore: new Date(Date.now() - hour), notAfter: new Date(Date.now() + hour), publicKey, extensions }, signer);
    const attestation = (critical: boolean) => encodeExtension(ATTESTATION_EXTENSION_OID, critical, document);

    expect(verifyAtlsCertificate(build([attestation(false)]), policy()).moduleId).toBe(enclave.device.moduleId);
    expect(refusal(() => verifyAtlsCertificate(build([attestation(true)]), policy())).message).toMatch(/marked critical/);
    expect(refusal(() => verifyAtlsCertificate(build([attestation(false), attestation(false)]), policy())).message).toMatch(/appears twice/);
    const stranger = refusal(() => verifyAtlsCertificate(build([attestation(false)], newKey().privateKey), policy()));
    expect([stranger.reason, stranger.message]).toEqual(["malformed-certificate", expect.stringMatching(/not signed by its own key/)]);
    const unknownCritical = encodeExtension("1.2.3.4", true, Uint8Array.of(5, 0));
    expect(refusal(() => verifyAtlsCertificate(build([unknownCritical, attestation(false)]), policy())).message).toMatch(/critical extension aTLS does not know \(1\.2\.3\.4\)/);
    const huge = new Uint8Array(MAX_ATLS_CERTIFICATE_BYTES + 1);
    expect(refusal(() => verifyAtlsCertificate(huge, policy())).reason).toBe("malformed-certificate");
    expect(refusal(() => verifyAtlsCertificate(Uint8Array.of(0x30, 0x03, 1, 2), policy())).reason).toBe("malformed-certificate");
  });

  it("without the extension: an ordinary certificate", () => {
    const { privateKey, publicKey } = newKey();
    const name = encodeName([["CN", "localhost"]]);
    const der = buildCertificate({ serialNumber: Uint8Array.of(7), issuer: name, subject: name, notBefore: new Date(Date.now() - hour), notAfter: new Date(Date.now() + hour), publicKey, extensions: [basicConstraintsExtension(false)] }, privateKey);
    const error = refusal(() => verifyAtlsCertificate(der, policy()));
    expect(error.reason).toBe("no-attestation");
    expect(error.message).toMatch(/carries no attestation document \(extension 2\.25\.278596698260572343445148533171723499005\)/);
  });

  it("whose own validity does not cover now, naming the clock", async () => {
    const { privateKey, publicKey } = newKey();
    const document = await documentFor(publicKey);
    const der = buildAtlsCertificate({ publicKey, privateKey, document, notBefore: new Date(Date.now() - 2 * hour), notAfter: new Date(Date.now() - hour) });
    const error = refusal(() => verifyAtlsCertificate(der, policy()));
    expect(error.reason).toBe("certificate-not-valid");
    expect(error.message).toMatch(/check this machine's clock/);
    expect(readAtlsCertificate(der).document).toEqual(document);
  });

  it("with a genuine document that binds another key", async () => {
    const { privateKey, publicKey } = newKey();
    const document = await documentFor(newKey().publicKey);
    const der = buildAtlsCertificate({ publicKey, privateKey, document, notBefore: new Date(Date.now() - hour), notAfter: new Date(Date.now() + hour) });
    expect(refusal(() => verifyAtlsCertificate(der, policy())).reason).toBe("key-binding");
  });

  it("and checks its options first", () => {
    expect(() => verifyAtlsCertificate(Uint8Array.of(), { pcrPolicy: { kind: "manifest", sets: [] } })).toThrow(/no enclave could match/);
    expect(() => verifyAtlsCertificate(Uint8Array.of(), { pcrPolicy: { kind: "manifest", sets: [new Map()] } })).toThrow(/names no PCR/);
    expect(() => verifyAtlsCertificate(Uint8Array.of(), { pcrPolicy: { kind: "tofu", pinFile: "" } })).toThrow(/pinFile/);
    expect(() => verifyAtlsCertificate(Uint8Array.of(), { pcrPolicy: { kind: "manifest", sets: [enclave.manifest] }, root: "not a certificate" })).toThrow(/root certificate is unusable/);
  });
});

describe("privateKeyPem", () => {
  it("writes exactly the PEM Node would, for keys whose DER lengths leave every remainder", () => {
    const keys = [
      generateKeyPairSync("ec", { namedCurve: "P-384" }).privateKey,
      generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey,
      generateKeyPairSync("ec", { namedCurve: "P-521" }).privateKey,
    ];
    const remainders = new Set<number>();
    for (const key of keys) {
      remainders.add(key.export({ type: "pkcs8", format: "der" }).length % 3);
      expect(privateKeyPem(key).toString("latin1")).toBe(key.export({ type: "pkcs8", format: "pem" }));
    }
    expect(remainders).toEqual(new Set([0, 1, 2]));
  });
});
