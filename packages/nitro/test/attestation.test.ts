import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { type CborValue, encodeCbor } from "../src/cbor.ts";
import { decodeCoseSign1, encodeCoseSign1 } from "../src/attestation/cose-sign1.ts";
import { encodeAttestationPayload, parseAttestationPayload } from "../src/attestation/document.ts";
import { encodeName } from "../src/x509/certificate-builder.ts";
import { derOid, derSequence } from "../src/x509/der-writer.ts";
import {
  AttestationError,
  AWS_NITRO_ENCLAVES_ROOT_G1,
  loadOrCreateSimulatedCa,
  MAX_DOCUMENT_BYTES,
  verifyAttestationDocument,
  type PcrSet,
} from "../src/attestation/index.ts";
import { parseCertificate } from "../src/attestation/chain.ts";
import {
  AWS_ROOT_PEM,
  DEBUG,
  expectRefusal,
  issueTestChain,
  issueTestCertificate,
  putTogether,
  takeApart,
  testChainSpecs,
  testDocument,
  PRODUCTION,
} from "./attestation-fixtures.ts";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const HOUR = 3600_000;
const leafOf = (document: Uint8Array) => parseCertificate(takeApart(document).payload.get("certificate") as Uint8Array, "leaf");

describe("the real AWS documents", () => {
  test("the production document verifies against the AWS root at its own timestamp", () => {
    const verified = verifyAttestationDocument(PRODUCTION.bytes, { now: PRODUCTION.at });
    const { document } = verified;
    expect(document.moduleId).toBe("i-0a22e5c5f24d22174-enc0191cceb4289903f");
    expect(document.digest).toBe("SHA384");
    expect(document.timestampMs).toBe(1725719859545);
    expect(document.timestamp.toISOString()).toBe("2024-09-07T14:37:39.545Z");
    expect([...document.pcrs.keys()]).toEqual([...Array(16).keys()]);
    expect(hex(document.pcrs.get(0)!).slice(0, 16)).toBe("e72a46ca80a260fb");
    expect(document.cabundle.map((c) => c.length)).toEqual([533, 707, 792, 708]);
    expect(document.cabundle[0]).toEqual(AWS_NITRO_ENCLAVES_ROOT_G1);
    expect([document.publicKey?.length, document.userData?.length, document.nonce?.length]).toEqual([1024, 1024, 1024]);
    expect(verified.debug).toBe(false);
    expect(verified.certificates.map((c) => c.subject)).toEqual([
      "C=US, O=Amazon, OU=AWS, CN=aws.nitro-enclaves",
      "C=US, O=Amazon, OU=AWS, CN=ec28cbbaae08094d.us-east-1.aws.nitro-enclaves",
      "CN=68a8a693dd2153f6.zonal.us-east-1.aws.nitro-enclaves, OU=AWS, O=Amazon, C=US, ST=WA, L=Seattle",
      "C=US, ST=Washington, L=Seattle, O=Amazon, OU=AWS, CN=i-0a22e5c5f24d22174.us-east-1.aws.nitro-enclaves",
      "C=US, ST=Washington, L=Seattle, O=Amazon, OU=AWS, CN=i-0a22e5c5f24d22174-enc0191cceb4289903f.us-east-1.aws",
    ]);
    expect(verified.validUntil.toISOString()).toBe("2024-09-07T17:37:39.000Z");
  });

  test("the debug document is refused unless debug enclaves are allowed", () => {
    expectRefusal(() => verifyAttestationDocument(DEBUG.bytes, { now: DEBUG.at }), "debug-enclave", /debug-mode enclave/);
    const verified = verifyAttestationDocument(DEBUG.bytes, { now: DEBUG.at, allowDebug: true });
    expect(verified.debug).toBe(true);
    expect(verified.document.moduleId).toBe("i-0a22e5c5f24d22174-enc0191ccebaf8feaba");
    expect(hex(verified.document.pcrs.get(4)!)).not.toMatch(/^0+$/);
  });

  describe.each([
    ["production", PRODUCTION],
    ["debug", DEBUG],
  ])("the %s document", (_name, { bytes }) => {
    const leaf = leafOf(bytes);
    const verify = (now: Date) => verifyAttestationDocument(bytes, { now, allowDebug: true });

    test("is valid from its signing certificate's notBefore to its notAfter, inclusive", () => {
      expect(verify(leaf.notBefore).document.certificate).toEqual(leaf.der);
      expect(verify(leaf.notAfter).document.certificate).toEqual(leaf.der);
    });

    test("is refused an hour after its signing certificate expires", () => {
      expectRefusal(() => verify(new Date(leaf.notAfter.getTime() + HOUR)), "expired", /enc0191cceb.*expired at 2024-09-07T17:3/);
      expectRefusal(() => verify(new Date(leaf.notAfter.getTime() + 1)), "expired");
    });

    test("is refused before its signing certificate's notBefore", () => {
      expectRefusal(() => verify(new Date(leaf.notBefore.getTime() - 1)), "not-yet-valid", /not valid before 2024-09-07T14:3/);
    });

    test("is refused with any other root", () => {
      const simulated = loadOrCreateSimulatedCa(mkdtempSync(join(tmpdir(), "strongroom-sim-ca-")));
      const other = issueTestChain(testChainSpecs(DEBUG.at))[0]!;
      for (const root of [simulated.rootCertificate, other.der]) {
        expectRefusal(() => verifyAttestationDocument(bytes, { now: leaf.notBefore, allowDebug: true, root }), "untrusted-root", /cabundle\[0\] is not the pinned root/);
      }
    });

    test("verifies with the AWS root given explicitly as PEM or DER", () => {
      for (const root of [AWS_ROOT_PEM, AWS_NITRO_ENCLAVES_ROOT_G1]) {
        expect(verifyAttestationDocument(bytes, { now: leaf.notBefore, allowDebug: true, root }).document.certificate).toEqual(leaf.der);
      }
    });

    test("decodes and re-encodes byte for byte", () => {
      const message = decodeCoseSign1(bytes);
      expect(new Uint8Array(encodeCoseSign1(message))).toEqual(bytes);
      expect(new Uint8Array(encodeAttestationPayload(parseAttestationPayload(message.payload)))).toEqual(message.payload);
      expect(takeApart(bytes).protectedHeader).toEqual(Uint8Array.of(0xa1, 0x01, 0x38, 0x22));
    });

    test("is also accepted tagged with 18 (COSE_Sign1)", () => {
      expect(verify(leaf.notBefore).document.moduleId).toMatch(/^i-0a22e5c5f24d22174-enc/);
      expect(verifyAttestationDocument(Uint8Array.of(0xd2, ...bytes), { now: leaf.notBefore, allowDebug: true }).document.certificate).toEqual(leaf.der);
    });
  });
});

describe("policy: expected PCRs and maximum age", () => {
  const { now } = { now: PRODUCTION.at };
  const pcrs = verifyAttestationDocument(PRODUCTION.bytes, { now }).document.pcrs;
  const expected = (indexes: number[], change?: number): PcrSet =>
    new Map(indexes.map((i) => [i, i === change ? new Uint8Array(48).fill(0xee) : pcrs.get(i)!]));

  test("the document's own PCR0, 1, 2 and 8 match; a different PCR2 is refused, naming it", () => {
    expect(verifyAttestationDocument(PRODUCTION.bytes, { now, expectedPcrs: expected([0, 1, 2, 8]) }).document.moduleId).toBeTruthy();
    expectRefusal(() => verifyAttestationDocument(PRODUCTION.bytes, { now, expectedPcrs: expected([0, 1, 2], 2) }), "pcr-mismatch", new RegExp(`PCR2 is ${hex(pcrs.get(2)!)}, expected (ee)+`));
  });

  test("any one of several accepted sets may match; none matching is refused", () => {
    expect(verifyAttestationDocument(PRODUCTION.bytes, { now, expectedPcrs: [expected([0], 0), expected([0, 1])] }).debug).toBe(false);
    expectRefusal(() => verifyAttestationDocument(PRODUCTION.bytes, { now, expectedPcrs: [expected([0], 0), expected([1], 1)] }), "pcr-mismatch", /none of the 2 accepted sets.*set 1: PCR0.*set 2: PCR1/);
  });

  test("an expected PCR the document lacks is a mismatch", () => {
    expectRefusal(() => verifyAttestationDocument(PRODUCTION.bytes, { now, expectedPcrs: new Map([[20, new Uint8Array(48)]]) }), "pcr-mismatch", /PCR20 is absent/);
  });

  test("maxAge refuses a document older than allowed", () => {
    const later = new Date(now.getTime() + 10 * 60_000);
    expect(verifyAttestationDocument(PRODUCTION.bytes, { now: later, maxAge: 10 * 60_000 }).document.timestampMs).toBe(now.getTime());
    expectRefusal(() => verifyAttestationDocument(PRODUCTION.bytes, { now: later, maxAge: 10 * 60_000 - 1 }), "too-old", /more than 599999 ms before/);
  });

  test("unusable options are programming errors (TypeError), not refusals", () => {
    expect(() => verifyAttestationDocument(PRODUCTION.bytes, { now: new Date(Number.NaN) })).toThrow(TypeError);
    expect(() => verifyAttestationDocument(PRODUCTION.bytes, { now, expectedPcrs: [] })).toThrow(TypeError);
    expect(() => verifyAttestationDocument(PRODUCTION.bytes, { now, root: "not a certificate" })).toThrow(TypeError);
  });
});

describe("malformed documents are refused cleanly, with the reason", () => {
  const now = PRODUCTION.at;
  const verify = (bytes: Uint8Array) => () => verifyAttestationDocument(bytes, { now });
  const malformed = (bytes: Uint8Array, message?: RegExp) => expectRefusal(verify(bytes), "malformed", message);

  test("every truncation", () => {
    for (let length = 0; length < PRODUCTION.bytes.length; length++) malformed(PRODUCTION.bytes.subarray(0, length));
  });

  test("trailing bytes", () => {
    for (const tail of [[0x00], [0xff], [0xa0], [...PRODUCTION.bytes]]) malformed(Uint8Array.of(...PRODUCTION.bytes, ...tail));
  });

  test("a tag other than 18 in its one-byte form", () => {
    malformed(Uint8Array.of(0xd3, ...PRODUCTION.bytes), /CBOR tag 19/);
    malformed(Uint8Array.of(0xd8, 0x12, ...PRODUCTION.bytes), /tag 18 in a long form/);
    malformed(Uint8Array.of(0xd8, 0x61, ...PRODUCTION.bytes), /CBOR tag 97/);
    // cbor-x turns tag 64 into a typed array: not a COSE_Sign1 either.
    malformed(Uint8Array.of(0xd8, 0x40, ...PRODUCTION.bytes), /not a COSE_Sign1/);
    malformed(Uint8Array.of(0xd2, 0xd2, ...PRODUCTION.bytes), /CBOR tag 18/);
  });

  test("an oversized document is refused before it is decoded", () => {
    malformed(new Uint8Array(MAX_DOCUMENT_BYTES + 1).fill(0x84), new RegExp(`at most ${MAX_DOCUMENT_BYTES}`));
  });

  test("envelopes that are not Nitro's COSE_Sign1", () => {
    const { protectedHeader, payload, signature } = takeApart(PRODUCTION.bytes);
    const body = encodeCbor(payload);
    const cases: [CborValue, RegExp][] = [
      [[protectedHeader, new Map(), body], /array of 4/],
      [[protectedHeader, new Map(), body, signature, signature], /array of 4/],
      [new Map([[1, protectedHeader]]), /array of 4/],
      [[encodeCbor(new Map([[1, -7]])), new Map(), body, signature], /protected header/],
      [[encodeCbor(new Map<number, unknown>([[1, -35], [4, new Uint8Array(1)]])), new Map(), body, signature], /protected header/],
      [[new Uint8Array(0), new Map(), body, signature], /protected header/],
      [[new Map([[1, -35]]), new Map(), body, signature], /protected header/],
      [[protectedHeader, new Map([[4, new Uint8Array(1)]]), body, signature], /unprotected header/],
      [[protectedHeader, [], body, signature], /unprotected header/],
      [[protectedHeader, new Map(), "payload", signature], /payload is not a byte string/],
      [[protectedHeader, new Map(), new Uint8Array(0), signature], /payload is 0 bytes/],
      [[protectedHeader, new Map(), body, signature.subarray(0, 64)], /signature is 64 bytes/],
      [[protectedHeader, new Map(), body, Uint8Array.of(...signature, 0)], /signature is 97 bytes/],
      [[protectedHeader, new Map(), body, "signature"], /signature is not a byte string/],
    ];
    for (const [envelope, message] of cases) malformed(encodeCbor(envelope), message);
  });

  test("long-form or indefinite lengths in the envelope", () => {
    const bytes = PRODUCTION.bytes;
    // 59 1d 07 (payload length 7431) rewritten as 5a 00 00 1d 07.
    expect([...bytes.subarray(7, 10)]).toEqual([0x59, 0x1d, 0x07]);
    malformed(Uint8Array.of(...bytes.subarray(0, 7), 0x5a, 0x00, 0x00, 0x1d, 0x07, ...bytes.subarray(10)), /canonical/);
    // The array of four as an indefinite-length array.
    malformed(Uint8Array.of(0x9f, ...bytes.subarray(1), 0xff), /canonical/);
  });

  test("missing, extra and reordered keys", () => {
    const { payload } = takeApart(PRODUCTION.bytes);
    const without = new Map(payload);
    without.delete("nonce");
    malformed(putTogether(PRODUCTION.bytes, without), /has 8 keys|key 9 is nothing/);
    malformed(putTogether(PRODUCTION.bytes, new Map([...payload, ["extra", null]])), /has 10 keys/);
    const entries = [...payload];
    malformed(putTogether(PRODUCTION.bytes, new Map([entries[1]!, entries[0]!, ...entries.slice(2)])), /key 1 is "digest", not "module_id"/);
    malformed(putTogether(PRODUCTION.bytes, new Map([...entries.slice(0, 6), entries[7]!, entries[6]!, entries[8]!])), /key 7 is "user_data", not "public_key"/);
    malformed(putTogether(PRODUCTION.bytes, new Map<unknown, unknown>([[1, "x"], ...entries.slice(1)]) as Map<string, unknown>), /key 1 is number 1/);
  });

  test("a duplicate key", () => {
    const payload = encodeCbor(takeApart(PRODUCTION.bytes).payload);
    expect(payload[0]).toBe(0xa9);
    // Ten entries, the last repeating "nonce": null; a lenient decoder keeps one of them.
    const duplicated = Uint8Array.of(0xaa, ...payload.subarray(1), ...encodeCbor("nonce"), 0xf6);
    malformed(putTogether(PRODUCTION.bytes, duplicated), /canonical CBOR.*duplicate keys/);
  });

  test("fields of the wrong type or size", () => {
    const { payload } = takeApart(PRODUCTION.bytes);
    const pcrs = payload.get("pcrs") as Map<number, Uint8Array>;
    const certificate = payload.get("certificate") as Uint8Array;
    const cabundle = payload.get("cabundle") as Uint8Array[];
    const cases: [string, unknown, RegExp][] = [
      ["module_id", new Uint8Array(4), /module_id is not a text string/],
      ["module_id", "", /module_id is 0 bytes/],
      ["module_id", "i".repeat(257), /module_id is 257 bytes/],
      ["digest", "SHA256", /digest is "SHA256"/],
      ["digest", 384, /digest is "384"/],
      ["timestamp", "1725719859545", /timestamp is not a positive integer/],
      ["timestamp", 0, /timestamp is not a positive integer/],
      ["timestamp", -1, /timestamp is not a positive integer/],
      ["timestamp", 1725719859545.5, /timestamp is not a positive integer/],
      ["timestamp", 2n ** 63n, /timestamp is not a positive integer/],
      ["pcrs", [...pcrs.values()], /pcrs is not a map/],
      ["pcrs", new Map(), /pcrs holds 0 registers/],
      ["pcrs", new Map(Array.from({ length: 33 }, (_, i) => [i, new Uint8Array(48)])), /pcrs holds 33 registers/],
      ["pcrs", new Map([["0", pcrs.get(0)]]), /pcrs has the key "0"/],
      ["pcrs", new Map([[32, pcrs.get(0)]]), /pcrs has the key number 32/],
      ["pcrs", new Map([[-1, pcrs.get(0)]]), /pcrs has the key number -1/],
      ["pcrs", new Map([[1, pcrs.get(1)], [0, pcrs.get(0)]]), /PCR0 after PCR1; indexes must ascend/],
      ["pcrs", new Map([[0, pcrs.get(0)!.subarray(0, 47)]]), /PCR0 is not a byte string of 32, 48, 64 bytes/],
      ["pcrs", new Map([[0, hex(pcrs.get(0)!)]]), /PCR0 is not a byte string/],
      ["certificate", hex(certificate), /certificate is not a byte string/],
      ["certificate", new Uint8Array(0), /certificate is 0 bytes/],
      ["certificate", new Uint8Array(1025), /certificate is 1025 bytes/],
      ["cabundle", [], /cabundle holds 0 certificates/],
      ["cabundle", cabundle[0], /cabundle is not an array/],
      ["cabundle", Array(9).fill(cabundle[0]), /cabundle holds 9 certificates/],
      ["cabundle", [cabundle[0], "intermediate"], /cabundle\[1\] is not a byte string/],
      ["cabundle", [cabundle[0], new Uint8Array(1025)], /cabundle\[1\] is 1025 bytes/],
      ["public_key", "key", /public_key is neither a byte string nor null/],
      ["public_key", new Uint8Array(1025), /public_key is 1025 bytes/],
      ["user_data", new Uint8Array(1025), /user_data is 1025 bytes/],
      ["user_data", 7, /user_data is neither/],
      ["nonce", new Uint8Array(1025), /nonce is 1025 bytes/],
      ["nonce", [new Uint8Array(1)], /nonce is neither/],
    ];
    for (const [key, value, message] of cases) malformed(putTogether(PRODUCTION.bytes, new Map([...payload, [key, value]])), message);
  });

  test("long-form integers and indefinite lengths in the payload", () => {
    const payload = encodeCbor(takeApart(PRODUCTION.bytes).payload);
    const pcrsAt = Buffer.from(payload).indexOf(Buffer.from("6470637273b000", "hex")) + 5;
    expect(pcrsAt).toBeGreaterThan(5);
    // PCR index 0 written as 18 00 instead of 00.
    malformed(putTogether(PRODUCTION.bytes, Uint8Array.of(...payload.subarray(0, pcrsAt + 1), 0x18, 0x00, ...payload.subarray(pcrsAt + 2))), /canonical/);
    // The pcrs map (b0: sixteen entries) as an indefinite-length map; its end goes after PCR15 (sixteen entries of 1 + 2 + 48 bytes).
    const pcrsEnd = pcrsAt + 1 + 16 * 51;
    malformed(putTogether(PRODUCTION.bytes, Uint8Array.of(...payload.subarray(0, pcrsAt), 0xbf, ...payload.subarray(pcrsAt + 1, pcrsEnd), 0xff, ...payload.subarray(pcrsEnd))), /canonical/);
  });

  test("a payload that is not a map, or not CBOR", () => {
    malformed(putTogether(PRODUCTION.bytes, encodeCbor([1, 2, 3])), /not a CBOR map/);
    malformed(putTogether(PRODUCTION.bytes, Uint8Array.of(0xa9, 0xff)), /not valid CBOR/);
    malformed(putTogether(PRODUCTION.bytes, Uint8Array.of(0x1c)), /not valid CBOR/);
  });

  test("certificates that are not DER certificates", () => {
    const { payload } = takeApart(PRODUCTION.bytes);
    const certificate = payload.get("certificate") as Uint8Array;
    const cabundle = payload.get("cabundle") as Uint8Array[];
    malformed(putTogether(PRODUCTION.bytes, new Map([...payload, ["certificate", certificate.subarray(0, 600)]])), /signing certificate is not a valid certificate/);
    malformed(putTogether(PRODUCTION.bytes, new Map([...payload, ["certificate", Uint8Array.of(...certificate, 0)]])), /1 bytes follow/);
    malformed(putTogether(PRODUCTION.bytes, new Map([...payload, ["cabundle", [cabundle[0], Uint8Array.of(0x30, 0x80, 0, 0), ...cabundle.slice(2)]]])), /cabundle\[1\].*indefinite length/);
  });
});

describe("the certificate path", () => {
  const at = new Date("2030-01-01T00:00:00Z");
  const specs = testChainSpecs(at);
  const verifyChain = (chain: ReturnType<typeof issueTestChain>, document = testDocument(chain, at)) =>
    verifyAttestationDocument(document, { now: at, root: chain[0]!.der });

  test("a chain shaped like AWS's verifies with its own root", () => {
    const chain = issueTestChain(specs);
    expect(verifyChain(chain).certificates.map((c) => c.subject)).toEqual([
      "C=US, O=strongroom tests, CN=test root",
      "C=US, O=strongroom tests, CN=test regional",
      "C=US, O=strongroom tests, CN=test zonal",
      "C=US, O=strongroom tests, CN=test instance",
      "C=US, O=strongroom tests, CN=test enclave",
    ]);
  });

  test("a self-signed impostor chain with AWS's subjects and its own keys is refused", () => {
    const real = [...(takeApart(PRODUCTION.bytes).payload.get("cabundle") as Uint8Array[]), takeApart(PRODUCTION.bytes).payload.get("certificate") as Uint8Array].map((der, i) =>
      parseCertificate(der, `certificate ${i}`),
    );
    const impostor = issueTestChain(specs.map((spec, i) => ({ ...spec, subject: real[i]!.subject, notBefore: real[i]!.notBefore, notAfter: real[i]!.notAfter })));
    const document = testDocument(impostor, PRODUCTION.at);
    expectRefusal(() => verifyAttestationDocument(document, { now: PRODUCTION.at }), "untrusted-root", /not the pinned root/);
    // With AWS's real root first in the bundle, the impostor regional certificate fails AWS's signature check.
    const rooted = testDocument(impostor, PRODUCTION.at, { cabundle: [AWS_NITRO_ENCLAVES_ROOT_G1, ...impostor.slice(1, -1).map((c) => c.der)] });
    expectRefusal(() => verifyAttestationDocument(rooted, { now: PRODUCTION.at }), "invalid-chain", /signature on .*ec28cbbaae08094d.* does not verify with the key of .*CN=aws.nitro-enclaves/);
  });

  test("a COSE signature by any key but the signing certificate's", () => {
    const chain = issueTestChain(specs);
    expectRefusal(() => verifyChain(chain, testDocument(chain, at, { signWith: chain[3]!.privateKey })), "invalid-signature", /COSE signature/);
  });

  test("a path longer than an issuer's pathLenConstraint allows", () => {
    // root, regional (path length 2), zonal, a second zonal, instance, signing: three CAs below the regional one.
    const secondZonal = { ...specs[2]!, subject: encodeName([["CN", "test zonal 2"]]) };
    const chain = issueTestChain([specs[0]!, specs[1]!, specs[2]!, secondZonal, specs[3]!, specs[4]!]);
    expectRefusal(() => verifyChain(chain), "invalid-chain", /test regional allows 2 CA certificates below it; the path has 3/);
  });

  test.each<[string, (s: typeof specs) => void, RegExp]>([
    ["an issuer that is not a CA", (s) => void (s[2] = { ...s[2]!, ca: false }), /test zonal issues a certificate but is not a CA/],
    ["an issuer without keyCertSign", (s) => void (s[3] = { ...s[3]!, keyUsage: 1 }), /test instance issues a certificate but its key usage lacks keyCertSign/],
    ["a signing certificate that is a CA", (s) => void (s[4] = { ...s[4]!, ca: {} }), /signing certificate .* is a CA/],
    ["a signing certificate without digitalSignature", (s) => void (s[4] = { ...s[4]!, keyUsage: 2 }), /lacks the digitalSignature key usage/],
    ["a name that does not chain", (s) => void (s[3] = { ...s[3]!, issuerName: s[1]!.subject }), /test instance\) is not issued by the certificate before it \(.*test zonal/],
    ["an unknown critical extension", (s) => void (s[2] = { ...s[2]!, extraExtensions: [derSequence(derOid("1.2.3.4"), Uint8Array.of(1, 1, 0xff), Uint8Array.of(4, 0))] }), /critical extension this verifier does not know \(1\.2\.3\.4\)/],
  ])("%s", (_name, change, message) => {
    const changed = [...specs];
    change(changed);
    expectRefusal(() => verifyChain(issueTestChain(changed)), "invalid-chain", message);
  });

  test("a second copy of the root inside the bundle (a self-issued intermediate)", () => {
    const chain = issueTestChain(specs);
    const document = testDocument(chain, at, { cabundle: [chain[0]!.der, ...chain.slice(0, -1).map((c) => c.der)] });
    expectRefusal(() => verifyChain(chain, document), "invalid-chain", /self-issued; only the root may be/);
  });

  test("a P-256 key or another signature algorithm is not Nitro's", () => {
    expectRefusal(() => verifyChain(issueTestChain(specs.map((s, i) => (i === 2 ? { ...s, curve: "P-256" as const } : s)))), "malformed", /cabundle\[2\] .*not EC P-384/);
    const chain = issueTestChain(specs);
    // ecdsa-with-SHA384 (…04 03 03) turned into ecdsa-with-SHA256 (…04 03 02) in the outer signatureAlgorithm.
    const der = Buffer.from(chain[2]!.der);
    const at384 = der.lastIndexOf(Buffer.from("2a8648ce3d040303", "hex"));
    der[at384 + 7] = 0x02;
    const document = testDocument(chain, at, { cabundle: [chain[0]!.der, chain[1]!.der, new Uint8Array(der), chain[3]!.der] });
    expectRefusal(() => verifyChain(chain, document), "malformed", /cabundle\[2\] is not a valid certificate: signatureAlgorithm is not ecdsa-with-SHA384/);
  });

  test("an expired intermediate is named even while the signing certificate is valid", () => {
    const changed = [...specs];
    changed[2] = { ...changed[2]!, notAfter: new Date(at.getTime() - 1000) };
    expectRefusal(() => verifyChain(issueTestChain(changed)), "expired", /test zonal expired at 2029-12-31T23:59:59.000Z/);
  });

  test("a root given for verification must itself be usable", () => {
    const p256 = issueTestCertificate({ ...specs[0]!, curve: "P-256" });
    expect(() => verifyAttestationDocument(PRODUCTION.bytes, { now: PRODUCTION.at, root: p256.der })).toThrow(/the root certificate is unusable: .*not EC P-384/);
  });

  test("nothing but AttestationError escapes for a hostile bundle", () => {
    const chain = issueTestChain(specs);
    const junk = [Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x00), Uint8Array.of(0x30), Uint8Array.of(0x1f, 0x00), Uint8Array.of(0x30, 0x84, 0xff, 0xff, 0xff, 0xff)];
    for (const entry of junk) {
      const document = testDocument(chain, at, { cabundle: [chain[0]!.der, entry, chain[2]!.der, chain[3]!.der] });
      expect(() => verifyChain(chain, document)).toThrow(AttestationError);
    }
  });
});
