import { execFileSync } from "node:child_process";
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, verify } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeCbor, derToPem, encodeCbor, signCoseSign1 } from "@strongroom/nitro";
import { describe, expect, it } from "vitest";
import { MAX_SIGNATURE_SECTION_BYTES, signatureSection, verifySignatureSection } from "../src/index.ts";
import { expectRefusal, signingIdentity } from "./fixtures.ts";

const pcr0 = new Uint8Array(randomBytes(48));
const identity = signingIdentity();
const section = signatureSection(pcr0, identity.certificatePem, identity.privateKeyPem);

/** The two byte arrays of a section, read without the code under test. */
function parts(bytes: Uint8Array): { pem: Uint8Array; cose: Uint8Array } {
  const [entry] = decodeCbor(bytes, "test section") as [Map<string, number[]>];
  return { pem: Uint8Array.from(entry.get("signing_certificate")!), cose: Uint8Array.from(entry.get("signature")!) };
}

function rebuild(pem: Uint8Array, cose: Uint8Array): Uint8Array {
  return encodeCbor([
    new Map([
      ["signing_certificate", Array.from(pem)],
      ["signature", Array.from(cose)],
    ]),
  ]);
}

/** serde_cbor's encoding of an unsigned integer below 256 and of a text key. */
const uint = (n: number): number[] => (n < 24 ? [n] : [0x18, n]);
const key = (s: string): number[] => [0x60 + s.length, ...Buffer.from(s)];

describe("signatureSection", () => {
  it("is CBOR of [PcrSignature] with Vec<u8> fields as arrays of integers, as serde_cbor writes", () => {
    const { pem, cose } = parts(section);
    const bytes = Buffer.from(section);
    // array(1), map(2), "signing_certificate", array(len: 2 bytes) of integers…
    expect([...bytes.subarray(0, 2)]).toEqual([0x81, 0xa2]);
    expect([...bytes.subarray(2, 22)]).toEqual(key("signing_certificate"));
    expect(bytes[22]).toBe(0x99);
    expect(bytes.readUInt16BE(23)).toBe(pem.length);
    const pemItems = [...pem].flatMap(uint);
    expect([...bytes.subarray(25, 25 + pemItems.length)]).toEqual(pemItems);
    // … "signature", array(len: 1 byte, a COSE_Sign1 here is under 256 bytes) of integers, and nothing after.
    const next = 25 + pemItems.length;
    expect([...bytes.subarray(next, next + 10)]).toEqual(key("signature"));
    expect([bytes[next + 10], bytes[next + 11]]).toEqual([0x98, cose.length]);
    expect([...bytes.subarray(next + 12)]).toEqual([...cose].flatMap(uint));
    expect(new TextDecoder().decode(pem)).toBe(identity.certificatePem);

    // COSE_Sign1, untagged: [h'a1013822' ({1: -35}), {}, payload, 96-byte r‖s].
    const [protectedHeader, unprotected, payload, signature] = decodeCbor(cose, "test COSE") as [Uint8Array, Map<unknown, unknown>, Uint8Array, Uint8Array];
    expect(cose[0]).toBe(0x84);
    expect(Buffer.from(protectedHeader).toString("hex")).toBe("a1013822");
    expect(unprotected.size).toBe(0);
    expect(signature).toHaveLength(96);
    // PcrInfo { register_index: 0, register_value: PCR0 as 48 integers }.
    const expectedPayload = [0xa2, ...key("register_index"), 0x00, ...key("register_value"), 0x98, 48, ...[...pcr0].flatMap(uint)];
    expect([...payload]).toEqual(expectedPayload);

    // The ES384 signature verifies over RFC 9052's Sig_structure, built here byte by byte.
    const sigStructure = Buffer.from([0x84, ...key("Signature1"), 0x44, 0xa1, 0x01, 0x38, 0x22, 0x40, 0x58, payload.length, ...payload]);
    const publicKey = createPublicKey(identity.certificatePem);
    expect(verify("sha384", sigStructure, { key: publicKey, dsaEncoding: "ieee-p1363" }, signature)).toBe(true);
  });

  it("refuses keys that are not P-384, and a key that is not the certificate's", () => {
    const p256 = signingIdentity({ curve: "prime256v1" });
    expectRefusal(() => signatureSection(pcr0, p256.certificatePem, p256.privateKeyPem), /certificate's public key is prime256v1; .*P-384/);
    expectRefusal(() => signatureSection(pcr0, identity.certificatePem, p256.privateKeyPem), /signing key is prime256v1/);
    const ed25519 = generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }) as string;
    expectRefusal(() => signatureSection(pcr0, identity.certificatePem, ed25519), /signing key is ed25519/);
    expectRefusal(() => signatureSection(pcr0, identity.certificatePem, signingIdentity().privateKeyPem), /does not belong to the signing certificate/);
    expectRefusal(() => signatureSection(pcr0, identity.certificatePem, "not a key"), /not a usable PEM private key/);
    expectRefusal(() => signatureSection(pcr0, "not a certificate", identity.privateKeyPem), /expected one PEM CERTIFICATE block, found 0/);
    expectRefusal(() => signatureSection(pcr0, identity.certificatePem + identity.certificatePem, identity.privateKeyPem), /found 2/);
    expectRefusal(() => signatureSection(pcr0.subarray(1), identity.certificatePem, identity.privateKeyPem), /PCR0 must be 48 bytes/);
    const trailing = derToPem(Uint8Array.from([...identity.der, 0]));
    expectRefusal(() => signatureSection(pcr0, trailing, identity.privateKeyPem), /not in DER form/);
  });

  it("refuses a certificate outside its validity period (nitro-cli would not launch the image)", () => {
    const expired = signingIdentity({ notBefore: new Date("2020-01-01T00:00:00Z"), notAfter: new Date("2021-01-01T00:00:00Z") });
    expectRefusal(() => signatureSection(pcr0, expired.certificatePem, expired.privateKeyPem), /valid from 2020-01-01T00:00:00.000Z to 2021-01-01T00:00:00.000Z, not at/);
    const inTime = signatureSection(pcr0, expired.certificatePem, expired.privateKeyPem, { now: new Date("2020-06-01T00:00:00Z") });
    // Verification does not look at the time: an old image still verifies.
    expect(Buffer.from(verifySignatureSection(inTime, pcr0)).equals(Buffer.from(expired.der))).toBe(true);
  });

  it("writes the certificate's PEM in one form whatever surrounds it", () => {
    const decorated = `Bag Attributes\n  friendlyName: signer\n${identity.certificatePem.replace(/\n/g, "\r\n")}\n`;
    const { pem } = parts(signatureSection(pcr0, decorated, identity.privateKeyPem));
    expect(new TextDecoder().decode(pem)).toBe(identity.certificatePem);
  });
});

describe("verifySignatureSection", () => {
  it("returns the certificate's DER for a section over this PCR0", () => {
    expect(Buffer.from(verifySignatureSection(section, pcr0)).equals(Buffer.from(identity.der))).toBe(true);
  });

  it("refuses a signature over another PCR0", () => {
    const other = new Uint8Array(pcr0);
    other[47]! ^= 1;
    expectRefusal(() => verifySignatureSection(section, other), new RegExp(`signs PCR0 ${Buffer.from(pcr0).toString("hex")}, not this image's PCR0 ${Buffer.from(other).toString("hex")}`));
  });

  it("refuses a changed certificate or signature", () => {
    const { pem, cose } = parts(section);
    // Another P-384 certificate: a well-formed section that does not verify.
    const stranger = new TextEncoder().encode(signingIdentity().certificatePem);
    expectRefusal(() => verifySignatureSection(rebuild(stranger, cose), pcr0), /does not verify with the public key of its signing certificate/);
    // One character of the certificate changed, anywhere: refused, or (where only the issuer's
    // signature or a name changed, which the section's signature does not cover) a different PCR8.
    const text = new TextDecoder().decode(pem);
    let refused = 0;
    for (let at = text.indexOf("\n") + 1; at < text.lastIndexOf("\n-----END"); at++) {
      if (text[at] === "\n") continue;
      const changedText = text.slice(0, at) + (text[at] === "A" ? "B" : "A") + text.slice(at + 1);
      // The last character before "=" padding has unused low bits: a change to those alone leaves the same certificate.
      if (Buffer.from(changedText.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64").equals(Buffer.from(identity.der))) continue;
      const changed = new TextEncoder().encode(changedText);
      let der: Uint8Array;
      try {
        der = verifySignatureSection(rebuild(changed, cose), pcr0);
      } catch {
        expectRefusal(() => verifySignatureSection(rebuild(changed, cose), pcr0));
        refused++;
        continue;
      }
      expect(Buffer.from(der).equals(Buffer.from(identity.der)), `character ${at}`).toBe(false);
    }
    expect(refused).toBeGreaterThan(0);
    // One byte of r‖s changed.
    const forged = new Uint8Array(cose);
    forged[forged.length - 1]! ^= 1;
    expectRefusal(() => verifySignatureSection(rebuild(pem, forged), pcr0), /does not verify/);
  });

  it("refuses a section signed with a P-256 key", () => {
    const p256 = signingIdentity({ curve: "prime256v1" });
    const [, , payload] = decodeCbor(parts(section).cose, "test COSE") as Uint8Array[];
    const cose = signCoseSign1(payload!, createPrivateKey(p256.privateKeyPem));
    expectRefusal(() => verifySignatureSection(rebuild(new TextEncoder().encode(p256.certificatePem), cose), pcr0), /prime256v1; .*P-384/);
  });

  it("refuses anything but AWS's exact encoding", () => {
    const { pem, cose } = parts(section);
    const asByteStrings = encodeCbor([
      new Map<string, Uint8Array>([
        ["signing_certificate", pem],
        ["signature", cose],
      ]),
    ]);
    expectRefusal(() => verifySignatureSection(asByteStrings, pcr0), /not a CBOR array of bytes \(serde_cbor's Vec<u8>\)/);
    expectRefusal(() => verifySignatureSection(encodeCbor([]), pcr0), /exactly one PCR signature/);
    expectRefusal(() => verifySignatureSection(encodeCbor([1, 2]), pcr0), /exactly one PCR signature/);
    expectRefusal(() => verifySignatureSection(encodeCbor([[1]]), pcr0), /not a CBOR map/);
    expectRefusal(() => verifySignatureSection(encodeCbor([new Map([["signature", Array.from(cose)]])]), pcr0), /"signing_certificate" is not a CBOR array/);
    expectRefusal(() => verifySignatureSection(encodeCbor([new Map([["signing_certificate", [256]], ["signature", Array.from(cose)]])]), pcr0), /holds 256 at index 0, not a byte/);
    const swapped = encodeCbor([
      new Map([
        ["signature", Array.from(cose)],
        ["signing_certificate", Array.from(pem)],
      ]),
    ]);
    expectRefusal(() => verifySignatureSection(swapped, pcr0), /not exactly \[\{signing_certificate, signature\}\]/);
    const extraKey = encodeCbor([
      new Map<string, number[]>([
        ["signing_certificate", Array.from(pem)],
        ["signature", Array.from(cose)],
        ["extra", []],
      ]),
    ]);
    expectRefusal(() => verifySignatureSection(extraKey, pcr0), /not exactly/);
    expectRefusal(() => verifySignatureSection(Buffer.concat([section, Buffer.from([0])]), pcr0), /not valid CBOR/);
    const tagged = rebuild(pem, Uint8Array.from([0xd2, ...cose]));
    expectRefusal(() => verifySignatureSection(tagged, pcr0), /COSE_Sign1 is not an untagged CBOR array of 4 items/);
    const withHeader = rebuild(pem, encodeCbor([Uint8Array.of(0xa1, 0x01, 0x38, 0x22), new Map([[4, Uint8Array.of(1)]]), ...(decodeCbor(cose, "c") as Uint8Array[]).slice(2)]));
    expectRefusal(() => verifySignatureSection(withHeader, pcr0), /empty unprotected header/);
    expectRefusal(() => verifySignatureSection(rebuild(pem, encodeCbor([1, 2, 3])), pcr0), /not an untagged CBOR array of 4 items/);
    expectRefusal(() => verifySignatureSection(rebuild(Uint8Array.of(0xff, 0xfe), cose), pcr0), /not PEM text/);
  });

  it("refuses truncation and oversized input with explained errors", () => {
    for (let length = 0; length < section.length; length += 13) expectRefusal(() => verifySignatureSection(section.subarray(0, length), pcr0));
    expectRefusal(() => verifySignatureSection(new Uint8Array(MAX_SIGNATURE_SECTION_BYTES + 1), pcr0), /at most 65536 are accepted/);
  });

  it.skipIf(!hasOpenssl())("signs with a key and certificate made as AWS's documentation makes them with openssl", () => {
    const dir = mkdtempSync(join(tmpdir(), "strongroom-eif-sign-"));
    try {
      const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
      run("ecparam", "-name", "secp384r1", "-genkey", "-out", "key.pem");
      run("req", "-new", "-key", "key.pem", "-sha384", "-nodes", "-subj", "/CN=AWS/C=US/ST=WA/L=Seattle/O=Amazon/OU=AWS", "-out", "csr.pem");
      run("x509", "-req", "-days", "20", "-in", "csr.pem", "-out", "cert.pem", "-sha384", "-signkey", "key.pem");
      const der = run("x509", "-in", "cert.pem", "-outform", "DER");
      const signed = signatureSection(pcr0, readFileSync(join(dir, "cert.pem"), "utf8"), readFileSync(join(dir, "key.pem"), "utf8"));
      expect(Buffer.from(verifySignatureSection(signed, pcr0)).equals(der)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function hasOpenssl(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
