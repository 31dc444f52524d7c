import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { derElement, derExplicit, derInteger, derOctetString, derOid, derSequence, derSet } from "@strongroom/nitro";
import { beforeAll, describe, expect, test } from "vitest";
import {
  createRecipientKey,
  KmsEnvelopeError,
  MAX_ENVELOPE_BYTES,
  openCiphertextForRecipient,
  parseCiphertextForRecipient,
  type RecipientKey,
  sealForRecipient,
} from "../src/index.ts";
import { seededRandom } from "../../../test/support/random.ts";
import { readBer } from "../src/ber.ts";

const VECTORS = new URL("../../../../shared/vectors/kms/", import.meta.url);
const readVector = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(name, VECTORS)));
const expected = JSON.parse(readFileSync(new URL("expected.json", VECTORS), "utf8")) as Record<
  string,
  { bytes: number; iv: string; encrypted_content: string; encrypted_key: string }
>;
const VECTOR_NAMES = ["ciphertext-for-recipient.ber", "ciphertext-for-recipient-w-ctx.ber"] as const;
// shared/vectors/README.md says each blob has 8 trailing zero bytes after the
// ContentInfo. It has none: those zeros are the end-of-contents octets that
// close the indefinite-length elements (the ContentInfo ends at the last byte;
// the first test checks it). Zero padding is tested by appending it here.

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");

/** The error a call throws, which must be a KmsEnvelopeError. */
function refusal(run: () => unknown): KmsEnvelopeError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(KmsEnvelopeError);
    return error as KmsEnvelopeError;
  }
  throw new Error("expected a KmsEnvelopeError, but the call succeeded");
}

// A DER envelope with parts swapped out, to test each refusal in isolation.
const SHA256 = derSequence(derOid("2.16.840.1.101.3.4.2.1"), Uint8Array.of(0x05, 0x00));
const SHA1 = derSequence(derOid("1.3.14.3.2.26"), Uint8Array.of(0x05, 0x00));
const oaep = (hash: Uint8Array | null, mgfHash: Uint8Array | null, ...more: Uint8Array[]): Uint8Array =>
  derSequence(
    derOid("1.2.840.113549.1.1.7"),
    derSequence(...(hash ? [derExplicit(0, hash)] : []), ...(mgfHash ? [derExplicit(1, derSequence(derOid("1.2.840.113549.1.1.8"), mgfHash))] : []), ...more),
  );
interface Parts {
  version?: number;
  ktriVersion?: number;
  keyAlgorithm?: Uint8Array;
  contentAlgorithm?: string;
  iv?: Uint8Array;
  recipients?: number;
  recipient?: Uint8Array;
  encryptedKey?: Uint8Array;
  encryptedContent?: Uint8Array | null;
  contentType?: string;
  extraEnvelopedField?: Uint8Array;
}
function envelope(parts: Parts = {}): Uint8Array {
  const ktri =
    parts.recipient ??
    derSequence(
      derInteger(parts.ktriVersion ?? 2),
      derElement(0x80, new Uint8Array(32).fill(7)),
      parts.keyAlgorithm ?? oaep(SHA256, SHA256),
      derOctetString(parts.encryptedKey ?? new Uint8Array(256).fill(1)),
    );
  const content = parts.encryptedContent === null ? [] : [derElement(0x80, parts.encryptedContent ?? new Uint8Array(32).fill(2))];
  const eci = derSequence(derOid("1.2.840.113549.1.7.1"), derSequence(derOid(parts.contentAlgorithm ?? "2.16.840.1.101.3.4.1.42"), derOctetString(parts.iv ?? new Uint8Array(16).fill(3))), ...content);
  const recipients = Array.from({ length: parts.recipients ?? 1 }, () => ktri);
  const fields = [derInteger(parts.version ?? 2), derSet(...recipients), eci, ...(parts.extraEnvelopedField ? [parts.extraEnvelopedField] : [])];
  return derSequence(derOid(parts.contentType ?? "1.2.840.113549.1.7.3"), derExplicit(0, derSequence(...fields)));
}

let recipient: RecipientKey;
let stranger: RecipientKey;
beforeAll(() => {
  recipient = createRecipientKey();
  stranger = createRecipientKey();
});

describe("the AWS vectors", () => {
  for (const name of VECTOR_NAMES) {
    test(`${name} parses to the expected IV, encrypted key and encrypted content`, () => {
      const bytes = readVector(name);
      const want = expected[name]!;
      expect(bytes.length).toBe(want.bytes);
      expect(readBer(bytes, { maxBytes: MAX_ENVELOPE_BYTES, maxDepth: 16, maxElements: 4096 }).end).toBe(bytes.length);
      const parsed = parseCiphertextForRecipient(bytes);
      expect(hex(parsed.iv)).toBe(want.iv);
      expect(hex(parsed.encryptedKey)).toBe(want.encrypted_key);
      expect(hex(parsed.encryptedContent)).toBe(want.encrypted_content);
      // The results are copies: zeroing the input leaves them intact.
      bytes.fill(0);
      expect(hex(parsed.iv)).toBe(want.iv);
    });

    test(`${name} with zero padding appended still parses`, () => {
      const bytes = new Uint8Array([...readVector(name), ...new Uint8Array(8)]);
      expect(hex(parseCiphertextForRecipient(bytes).encryptedContent)).toBe(expected[name]!.encrypted_content);
    });

    test(`${name} cannot be opened without its (non-existent) private key`, () => {
      expect(refusal(() => openCiphertextForRecipient(readVector(name), recipient.privateKey)).message).toMatch(/could not be decrypted/);
    });
  }

  test("a vector with AES-128-CBC in place of AES-256-CBC is refused", () => {
    const bytes = readVector(VECTOR_NAMES[0]);
    // The OID 2.16.840.1.101.3.4.1.42 ends at offset 412; .2 is AES-128-CBC.
    expect(bytes[412]).toBe(42);
    bytes[412] = 2;
    expect(refusal(() => parseCiphertextForRecipient(bytes)).message).toMatch(/content encryption algorithm.*AES-128-CBC/);
  });
});

describe("seal and open", () => {
  const sizes = [0, 1, 15, 16, 17, 32, 1000, 4096];
  for (const encoding of ["ber-indefinite", "der"] as const) {
    for (const size of sizes) {
      test(`${size} bytes round trip in ${encoding}`, () => {
        const plaintext = Uint8Array.from({ length: size }, (_, i) => (i * 31 + size) & 0xff);
        const sealed = sealForRecipient(plaintext, recipient.publicKeySpki, { encoding });
        expect(sealed[1] === 0x80).toBe(encoding === "ber-indefinite");
        const parsed = parseCiphertextForRecipient(sealed);
        expect(parsed.encryptedContent.length).toBe((Math.floor(size / 16) + 1) * 16);
        expect(parsed.encryptedKey.length).toBe(256);
        expect(hex(openCiphertextForRecipient(sealed, recipient.privateKey))).toBe(hex(plaintext));
      });
    }
  }

  test("the default encoding is indefinite-length BER with the content in OCTET STRING pieces", () => {
    const sealed = sealForRecipient(new Uint8Array(4096), recipient.publicKeySpki);
    const root = readBer(sealed, { maxBytes: MAX_ENVELOPE_BYTES, maxDepth: 16, maxElements: 4096 });
    expect(root.indefinite).toBe(true);
    expect(root.end).toBe(sealed.length);
    const encryptedContentInfo = root.children[1]!.children[0]!.children[2]!;
    const content = encryptedContentInfo.children[2]!;
    expect(content.constructed && content.indefinite).toBe(true);
    expect(content.children.map((piece) => piece.content.length)).toEqual([1000, 1000, 1000, 1000, 112]);
  });

  test("each seal uses a fresh key and IV", () => {
    const a = parseCiphertextForRecipient(sealForRecipient(new Uint8Array(16), recipient.publicKeySpki));
    const b = parseCiphertextForRecipient(sealForRecipient(new Uint8Array(16), recipient.publicKeySpki));
    expect(hex(a.iv)).not.toBe(hex(b.iv));
    expect(hex(a.encryptedContent)).not.toBe(hex(b.encryptedContent));
  });

  test("opening with another RSA key fails cleanly", () => {
    const sealed = sealForRecipient(Uint8Array.of(1, 2, 3), recipient.publicKeySpki);
    expect(refusal(() => openCiphertextForRecipient(sealed, stranger.privateKey)).message).toBe(
      "the content-encryption key could not be decrypted with this recipient key",
    );
  });

  test("a tampered ciphertext with the right key fails cleanly", () => {
    const sealed = sealForRecipient(new Uint8Array(32), recipient.publicKeySpki, { encoding: "der" });
    sealed[sealed.length - 1]! ^= 0x01; // last byte of the last block: breaks the padding
    expect(refusal(() => openCiphertextForRecipient(sealed, recipient.privateKey)).message).toMatch(/content could not be decrypted/);
  });

  test("opening refuses a key that is not an RSA private key", () => {
    const sealed = sealForRecipient(new Uint8Array(1), recipient.publicKeySpki);
    const { privateKey: ec } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    expect(refusal(() => openCiphertextForRecipient(sealed, ec)).message).toMatch(/not an RSA private key/);
  });

  test("sealing refuses a recipient key that is not RSA of at least 2048 bits", () => {
    const spki = (key: { export(options: { type: "spki"; format: "der" }): Buffer }) => new Uint8Array(key.export({ type: "spki", format: "der" }));
    const rsa1024 = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey;
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey;
    const ed = generateKeyPairSync("ed25519").publicKey;
    expect(refusal(() => sealForRecipient(new Uint8Array(1), spki(rsa1024))).message).toMatch(/RSA-1024; at least RSA-2048/);
    expect(refusal(() => sealForRecipient(new Uint8Array(1), spki(ec))).message).toMatch(/is ec, not RSA/);
    expect(refusal(() => sealForRecipient(new Uint8Array(1), spki(ed))).message).toMatch(/is ed25519, not RSA/);
    expect(refusal(() => sealForRecipient(new Uint8Array(1), Uint8Array.of(0x30, 0x00))).message).toMatch(/not a valid DER SubjectPublicKeyInfo/);
    expect(refusal(() => sealForRecipient(new Uint8Array(1), new Uint8Array(0))).message).toMatch(/SubjectPublicKeyInfo/);
  });

  test("the recipient key is RSA-2048 and unusable after destroy()", () => {
    const key = createRecipientKey();
    expect(key.privateKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(key.publicKeySpki[0]).toBe(0x30);
    key.destroy();
    expect(refusal(() => key.privateKey).message).toMatch(/destroyed/);
  });
});

describe("malformed input", () => {
  /** Each blob (the vectors with 8 zero bytes of padding appended) and where its ContentInfo ends. */
  function blobs(): { name: string; bytes: Uint8Array; end: number }[] {
    return [
      ...VECTOR_NAMES.map((name) => {
        const vector = readVector(name);
        return { name, bytes: new Uint8Array([...vector, ...new Uint8Array(8)]), end: vector.length };
      }),
      ...(["ber-indefinite", "der"] as const).map((encoding) => {
        const bytes = sealForRecipient(new Uint8Array(2100).fill(9), recipient.publicKeySpki, { encoding });
        return { name: `sealed ${encoding}`, bytes, end: bytes.length };
      }),
    ];
  }

  test("every truncation is refused with a KmsEnvelopeError; padding may be cut", () => {
    for (const { name, bytes, end } of blobs()) {
      for (let length = 0; length < end; length++) {
        const error = refusal(() => parseCiphertextForRecipient(bytes.subarray(0, length)));
        expect(error.message, `${name} cut to ${length}`).not.toBe("");
      }
      for (let length = end; length <= bytes.length; length++) parseCiphertextForRecipient(bytes.subarray(0, length));
    }
  });

  test("thousands of seeded single-byte mutations raise nothing but KmsEnvelopeError", () => {
    const random = seededRandom(0x5eed);
    let parsed = 0;
    let refused = 0;
    for (const { bytes } of blobs()) {
      for (let round = 0; round < 1500; round++) {
        const mutated = new Uint8Array(bytes);
        const at = Math.floor(random() * mutated.length);
        mutated[at] = mutated[at]! ^ (1 + Math.floor(random() * 255));
        try {
          parseCiphertextForRecipient(mutated);
          parsed++;
        } catch (error) {
          if (!(error instanceof KmsEnvelopeError)) throw new Error(`byte ${at}: ${String(error)}`);
          refused++;
        }
      }
    }
    // Most bytes are ciphertext (parse fine); the framing is refused.
    expect(parsed).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
  });

  test("mutated sealed envelopes opened with the right key raise nothing but KmsEnvelopeError", () => {
    const random = seededRandom(42);
    const plaintext = new Uint8Array(40).fill(5);
    const sealed = sealForRecipient(plaintext, recipient.publicKeySpki);
    let opened = 0;
    for (let round = 0; round < 400; round++) {
      const mutated = new Uint8Array(sealed);
      const at = Math.floor(random() * mutated.length);
      mutated[at] = mutated[at]! ^ (1 + Math.floor(random() * 255));
      try {
        openCiphertextForRecipient(mutated, recipient.privateKey);
        opened++; // a changed IV or subjectKeyIdentifier still opens (CBC is not authenticated)
      } catch (error) {
        if (!(error instanceof KmsEnvelopeError)) throw new Error(`byte ${at}: ${String(error)}`);
      }
    }
    expect(opened).toBeLessThan(400);
  });

  test("input over 64 KiB is refused before parsing; zero padding up to it is not", () => {
    const vector = readVector(VECTOR_NAMES[0]);
    const padded = new Uint8Array(MAX_ENVELOPE_BYTES);
    padded.set(vector);
    expect(hex(parseCiphertextForRecipient(padded).iv)).toBe(expected[VECTOR_NAMES[0]]!.iv);
    const over = new Uint8Array(MAX_ENVELOPE_BYTES + 1);
    over.set(vector);
    expect(refusal(() => parseCiphertextForRecipient(over)).message).toBe(`the envelope is ${MAX_ENVELOPE_BYTES + 1} bytes, over the limit of ${MAX_ENVELOPE_BYTES}`);
    expect(refusal(() => parseCiphertextForRecipient(new Uint8Array(0))).message).toMatch(/empty/);
  });

  test("trailing non-zero bytes are refused", () => {
    for (const name of VECTOR_NAMES) {
      const vector = readVector(name);
      const bytes = new Uint8Array([...vector, 0, 0, 0x01, 0]);
      expect(refusal(() => parseCiphertextForRecipient(bytes)).message).toBe(
        `a non-zero byte at offset ${vector.length + 2} follows the ContentInfo (which ends at offset ${vector.length}); only zero padding may`,
      );
    }
    const sealed = sealForRecipient(new Uint8Array(3), recipient.publicKeySpki);
    const extended = new Uint8Array([...sealed, 0, 0, 0x30, 0x00]);
    expect(refusal(() => parseCiphertextForRecipient(extended)).message).toMatch(/non-zero byte/);
  });

  test("the test builder's envelope parses, so each refusal below is about one change", () => {
    const parsed = parseCiphertextForRecipient(envelope());
    expect(parsed.iv).toEqual(new Uint8Array(16).fill(3));
  });

  const refusals: [string, Parts | Uint8Array, RegExp][] = [
    ["AES-128-CBC", { contentAlgorithm: "2.16.840.1.101.3.4.1.2" }, /content encryption algorithm at offset \d+ is 2\.16\.840\.1\.101\.3\.4\.1\.2 \(AES-128-CBC\), not 2\.16\.840\.1\.101\.3\.4\.1\.42/],
    ["AES-256-GCM", { contentAlgorithm: "2.16.840.1.101.3.4.1.46" }, /AES-256-GCM/],
    ["SHA-1 OAEP hash", { keyAlgorithm: oaep(SHA1, SHA256) }, /RSAES-OAEP hash algorithm at offset \d+ is 1\.3\.14\.3\.2\.26 \(SHA-1\), not .*SHA-256/],
    ["MGF1 with SHA-1", { keyAlgorithm: oaep(SHA256, SHA1) }, /MGF1 hash algorithm .*SHA-1/],
    ["the default (SHA-1) OAEP hash", { keyAlgorithm: oaep(null, SHA256) }, /RSAES-OAEP hash is absent, which means SHA-1/],
    ["the default (MGF1-SHA-1) mask", { keyAlgorithm: oaep(SHA256, null) }, /mask generation function is absent/],
    ["absent OAEP parameters", { keyAlgorithm: derSequence(derOid("1.2.840.113549.1.1.7")) }, /RSAES-OAEP parameters are absent/],
    ["a non-empty OAEP label", { keyAlgorithm: oaep(SHA256, SHA256, derExplicit(2, derSequence(derOid("1.2.840.113549.1.1.9"), derOctetString(Uint8Array.of(1))))) }, /label is not empty/],
    ["RSA PKCS #1 v1.5", { keyAlgorithm: derSequence(derOid("1.2.840.113549.1.1.1"), Uint8Array.of(0x05, 0x00)) }, /key encryption algorithm .* \(rsaEncryption\), not .*id-RSAES-OAEP/],
    ["two recipients", { recipients: 2 }, /has 2 recipients .*exactly one/],
    ["no recipient", { recipients: 0 }, /has 0 recipients/],
    ["a KEKRecipientInfo", { recipient: derExplicit(2, derInteger(4)) }, /is a KEKRecipientInfo, not a KeyTransRecipientInfo/],
    ["EnvelopedData version 3", { version: 3 }, /EnvelopedData version is 3; RFC 5652 requires 2/],
    ["EnvelopedData version 0 with a version-2 recipient", { version: 0 }, /EnvelopedData version is 0; RFC 5652 requires 2/],
    ["recipient version 0 with a subjectKeyIdentifier", { ktriVersion: 0, version: 0 }, /version is 0; with a subjectKeyIdentifier it must be 2/],
    ["a 15-byte IV", { iv: new Uint8Array(15) }, /IV is 15 bytes, not 16/],
    ["content that is not whole blocks", { encryptedContent: new Uint8Array(17) }, /encrypted content is 17 bytes/],
    ["detached content", { encryptedContent: null }, /encrypted content is absent/],
    ["a short encrypted key", { encryptedKey: new Uint8Array(128) }, /encrypted key is 128 bytes/],
    ["a SignedData content type", { contentType: "1.2.840.113549.1.7.2" }, /ContentInfo content type at offset \d+ is 1\.2\.840\.113549\.1\.7\.2, not 1\.2\.840\.113549\.1\.7\.3/],
    ["unprotectedAttrs", { extraEnvelopedField: derElement(0xa1, derSequence()) }, /unprotectedAttrs/],
    ["an extra EnvelopedData field", { extraEnvelopedField: derInteger(1) }, /EnvelopedData has an unexpected INTEGER/],
  ];
  for (const [what, parts, message] of refusals) {
    test(`refuses ${what}`, () => {
      const bytes = parts instanceof Uint8Array ? parts : envelope(parts);
      expect(refusal(() => parseCiphertextForRecipient(bytes)).message).toMatch(message);
    });
  }

  test("an issuerAndSerialNumber recipient with versions 0 is accepted", () => {
    const issuerAndSerial = derSequence(derSequence(), derInteger(1));
    const ktri = derSequence(derInteger(0), issuerAndSerial, oaep(SHA256, SHA256), derOctetString(new Uint8Array(256)));
    expect(() => parseCiphertextForRecipient(envelope({ recipient: ktri, version: 0 }))).not.toThrow();
    expect(refusal(() => parseCiphertextForRecipient(envelope({ recipient: ktri, version: 2 }))).message).toMatch(/requires 0/);
  });
});

describe("the BER reader", () => {
  const limits = { maxBytes: 1024, maxDepth: 8, maxElements: 64 };
  const cases: [string, number[], RegExp][] = [
    ["a primitive with an indefinite length", [0x04, 0x80, 0x00, 0x00], /primitive element with an indefinite length at offset 0/],
    ["a malformed end-of-contents", [0x30, 0x80, 0x00, 0x01], /malformed end-of-contents .* at offset 2/],
    ["a missing end-of-contents", [0x30, 0x80, 0x05, 0x00], /end-of-contents of the element at offset 0 is missing/],
    ["end-of-contents in a definite element", [0x30, 0x02, 0x00, 0x00], /end-of-contents inside the definite-length element at offset 0/],
    ["a multi-byte tag", [0x1f, 0x81, 0x00, 0x00], /multi-byte tag number at offset 0/],
    ["a lone end-of-contents", [0x00, 0x00], /unexpected end-of-contents at offset 0/],
    ["an overlong length", [0x04, 0x85, 1, 0, 0, 0, 0], /5-byte length field/],
    ["a length past the end", [0x30, 0x03, 0x04, 0x05, 0x00], /element at offset 2 claims 5 bytes but only 1 remain/],
    ["nesting too deep", [...Array(10).fill([0x30, 0x80]).flat(), ...Array(20).fill(0)], /nested deeper than 8 levels/],
    ["too many elements", [0x30, 0x80, ...Array(70).fill([0x05, 0x00]).flat(), 0x00, 0x00], /more than 64 elements/],
    ["too many bytes", Array(1025).fill(0), /over the limit of 1024/],
  ];
  for (const [what, bytes, message] of cases) {
    test(`refuses ${what}`, () => {
      expect(refusal(() => readBer(Uint8Array.from(bytes), limits)).message).toMatch(message);
    });
  }

  test("reads non-minimal definite lengths and nested constructed strings", () => {
    // [0] constructed { OCTET STRING constructed { 04 01 aa }, 04 81 01 bb } — both allowed in BER.
    const root = readBer(Uint8Array.of(0xa0, 0x80, 0x24, 0x03, 0x04, 0x01, 0xaa, 0x04, 0x81, 0x01, 0xbb, 0x00, 0x00), limits);
    expect(root.end).toBe(13);
    expect(root.children.map((child) => child.offset)).toEqual([2, 7]);
  });
});
