// The CMS envelope of AWS KMS's CiphertextForRecipient (RFC 5652 §6), both
// ways: the enclave parses and opens it; the KMS simulator seals it.
//
//   ContentInfo ::= SEQUENCE { contentType id-envelopedData, content [0] EXPLICIT EnvelopedData }
//   EnvelopedData ::= SEQUENCE { version, originatorInfo [0] OPTIONAL (refused),
//     recipientInfos SET OF RecipientInfo (exactly one KeyTransRecipientInfo),
//     encryptedContentInfo, unprotectedAttrs [1] OPTIONAL (refused) }
//   KeyTransRecipientInfo ::= SEQUENCE { version, rid, keyEncryptionAlgorithm
//     (id-RSAES-OAEP, SHA-256, MGF1-SHA-256, empty label: RFC 8017 A.2.1, RFC 4055 §3.1),
//     encryptedKey OCTET STRING }
//   EncryptedContentInfo ::= SEQUENCE { contentType id-data,
//     contentEncryptionAlgorithm (aes256-CBC, IV OCTET STRING (16 bytes)),
//     encryptedContent [0] IMPLICIT OCTET STRING (primitive or constructed) }
//
// KMS sends it in BER with indefinite lengths, the encrypted content as a
// constructed OCTET STRING, and zero bytes after the ContentInfo.
import { constants, createCipheriv, createDecipheriv, createHash, createPublicKey, getRandomValues, KeyObject, privateDecrypt, publicEncrypt } from "node:crypto";
import { DerError, derElement, derExplicit, derInteger, derOctetString, derOid, derSequence, derSet, readOid } from "@strongroom/nitro";
import {
  type BerElement,
  describeElement,
  expectElement,
  expectNoMore,
  expectNull,
  hasTag,
  KmsEnvelopeError,
  readBer,
  readOctets,
  readOidContent,
  readSmallInteger,
  TAG_CLASS,
  UNIVERSAL,
} from "./ber.ts";

/** What a CiphertextForRecipient carries, once parsed (all public: ciphertexts and the IV). */
export interface RecipientEnvelope {
  /** The AES-256 content-encryption key, under RSAES-OAEP-SHA-256 to the recipient key. */
  readonly encryptedKey: Uint8Array;
  /** AES-256-CBC initialisation vector (16 bytes). */
  readonly iv: Uint8Array;
  /** AES-256-CBC ciphertext with PKCS #7 padding. */
  readonly encryptedContent: Uint8Array;
}

/** KMS plaintexts are at most 4 KiB; 64 KiB leaves room for any envelope around them. */
export const MAX_ENVELOPE_BYTES = 64 * 1024;

const BER_LIMITS = { maxBytes: MAX_ENVELOPE_BYTES, maxDepth: 16, maxElements: 4096 } as const;

const OIDS = {
  envelopedData: "1.2.840.113549.1.7.3",
  data: "1.2.840.113549.1.7.1",
  rsaEncryption: "1.2.840.113549.1.1.1",
  rsaesOaep: "1.2.840.113549.1.1.7",
  mgf1: "1.2.840.113549.1.1.8",
  pSpecified: "1.2.840.113549.1.1.9",
  sha1: "1.3.14.3.2.26",
  sha256: "2.16.840.1.101.3.4.2.1",
  sha384: "2.16.840.1.101.3.4.2.2",
  sha512: "2.16.840.1.101.3.4.2.3",
  aes128Cbc: "2.16.840.1.101.3.4.1.2",
  aes192Cbc: "2.16.840.1.101.3.4.1.22",
  aes256Cbc: "2.16.840.1.101.3.4.1.42",
  aes256Gcm: "2.16.840.1.101.3.4.1.46",
} as const;

const NAMES: Record<string, string> = {
  [OIDS.envelopedData]: "id-envelopedData",
  [OIDS.data]: "id-data",
  [OIDS.rsaEncryption]: "rsaEncryption",
  [OIDS.rsaesOaep]: "id-RSAES-OAEP",
  [OIDS.mgf1]: "id-mgf1",
  [OIDS.pSpecified]: "id-pSpecified",
  [OIDS.sha1]: "SHA-1",
  [OIDS.sha256]: "SHA-256",
  [OIDS.sha384]: "SHA-384",
  [OIDS.sha512]: "SHA-512",
  [OIDS.aes128Cbc]: "AES-128-CBC",
  [OIDS.aes192Cbc]: "AES-192-CBC",
  [OIDS.aes256Cbc]: "AES-256-CBC",
  [OIDS.aes256Gcm]: "AES-256-GCM",
};

const AES_KEY_BYTES = 32;
const AES_BLOCK_BYTES = 16;
/** RSA moduli from 2048 to 8192 bits. */
const MIN_ENCRYPTED_KEY_BYTES = 256;
const MAX_ENCRYPTED_KEY_BYTES = 1024;
const MIN_RSA_BITS = 2048;
const MAX_SPKI_BYTES = 4096;
/** Size of the primitive pieces of the constructed encrypted content, as CER (X.690 §9.2) cuts them. */
const CONTENT_PIECE_BYTES = 1000;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/** The content octets of an OID's DER encoding (all OIDs here are short: a two-byte header). */
function oidContent(dotted: string): Uint8Array {
  return derOid(dotted).subarray(2);
}

/** An OID's content as "1.2.3 (name)" for messages, whatever its bytes are. */
function describeOid(content: Uint8Array): string {
  let dotted: string;
  try {
    dotted = readOid({ tag: 0x06, encoded: content, content }, "OID");
  } catch (error) {
    if (!(error instanceof DerError)) throw error;
    return `a malformed OID (${Buffer.from(content.subarray(0, 32)).toString("hex")})`;
  }
  const name = NAMES[dotted];
  return name === undefined ? dotted : `${dotted} (${name})`;
}

function expectOid(element: BerElement | undefined, dotted: string, what: string): void {
  const content = readOidContent(element, what);
  if (!sameBytes(content, oidContent(dotted))) {
    throw new KmsEnvelopeError(`${what} at offset ${element!.offset} is ${describeOid(content)}, not ${dotted} (${NAMES[dotted] ?? "?"})`);
  }
}

function sequence(element: BerElement | undefined, what: string): BerElement {
  return expectElement(element, TAG_CLASS.universal, UNIVERSAL.sequence, true, what);
}

/** An OCTET STRING (primitive or, as BER allows, constructed) as a fresh copy. */
function octetString(element: BerElement | undefined, what: string): Uint8Array {
  // Either form: expectElement only runs (and throws) when the tag itself is wrong.
  const found = hasTag(element, TAG_CLASS.universal, UNIVERSAL.octetString) ? element : expectElement(element, TAG_CLASS.universal, UNIVERSAL.octetString, false, what);
  return readOctets(found, what);
}

/** A hash AlgorithmIdentifier that must be SHA-256, with absent or NULL parameters (RFC 4055 §2.1 allows both). */
function expectSha256(element: BerElement | undefined, what: string): void {
  const algorithm = sequence(element, what);
  const [oid, parameters] = algorithm.children;
  expectOid(oid, OIDS.sha256, `${what} algorithm`);
  if (parameters !== undefined) expectNull(parameters, `${what} parameters`);
  expectNoMore(algorithm.children, 2, what);
}

/**
 * RSAES-OAEP-params (RFC 8017 A.2.1, fields [0] [1] [2] EXPLICIT, in order):
 * SHA-256, MGF1 with SHA-256, and the default empty label. The absent-field
 * defaults mean SHA-1, so hashFunc and maskGenFunc must be present.
 */
function expectOaepSha256(parameters: BerElement | undefined): void {
  const what = "the RSAES-OAEP parameters";
  if (parameters === undefined) throw new KmsEnvelopeError(`${what} are absent, which means SHA-1; SHA-256 is required`);
  const fields = sequence(parameters, what).children;
  let next = 0;
  const field = (n: number): BerElement | undefined => {
    const found = fields[next];
    if (!hasTag(found, TAG_CLASS.context, n)) return undefined;
    next++;
    const wrapper = expectElement(found, TAG_CLASS.context, n, true, `${what} [${n}]`);
    const [inner] = wrapper.children;
    expectNoMore(wrapper.children, 1, `${what} [${n}]`);
    return sequence(inner, `${what} [${n}]`);
  };

  const hash = field(0);
  if (hash === undefined) throw new KmsEnvelopeError(`the RSAES-OAEP hash is absent, which means SHA-1; SHA-256 is required`);
  expectSha256(hash, "the RSAES-OAEP hash");

  const mgf = field(1);
  if (mgf === undefined) throw new KmsEnvelopeError(`the RSAES-OAEP mask generation function is absent, which means MGF1 with SHA-1; MGF1 with SHA-256 is required`);
  const [mgfOid, mgfHash] = mgf.children;
  expectOid(mgfOid, OIDS.mgf1, "the RSAES-OAEP mask generation function");
  expectSha256(mgfHash, "the RSAES-OAEP MGF1 hash");
  expectNoMore(mgf.children, 2, "the RSAES-OAEP mask generation function");

  const source = field(2);
  if (source !== undefined) {
    // Only the default, written out: id-pSpecified with an empty label.
    const [sourceOid, label] = source.children;
    expectOid(sourceOid, OIDS.pSpecified, "the RSAES-OAEP label source");
    if (label === undefined || octetString(label, "the RSAES-OAEP label").length !== 0) throw new KmsEnvelopeError("the RSAES-OAEP label is not empty");
    expectNoMore(source.children, 2, "the RSAES-OAEP label source");
  }
  expectNoMore(fields, next, what);
}

/**
 * Parses a CiphertextForRecipient and checks every OID, parameter and version
 * number. Zero bytes after the ContentInfo are tolerated as padding; anything
 * else after it is refused. The result shares no memory with `bytes`.
 */
export function parseCiphertextForRecipient(bytes: Uint8Array): RecipientEnvelope {
  if (!(bytes instanceof Uint8Array)) throw new KmsEnvelopeError("the envelope is not a byte array");
  if (bytes.length > MAX_ENVELOPE_BYTES) throw new KmsEnvelopeError(`the envelope is ${bytes.length} bytes, over the limit of ${MAX_ENVELOPE_BYTES}`);
  if (bytes.length === 0) throw new KmsEnvelopeError("the envelope is empty");
  const root = readBer(bytes, BER_LIMITS);
  for (let i = root.end; i < bytes.length; i++) {
    if (bytes[i] !== 0) throw new KmsEnvelopeError(`a non-zero byte at offset ${i} follows the ContentInfo (which ends at offset ${root.end}); only zero padding may`);
  }

  const contentInfo = sequence(root, "the ContentInfo");
  const [contentType, wrapper] = contentInfo.children;
  expectOid(contentType, OIDS.envelopedData, "the ContentInfo content type");
  expectElement(wrapper, TAG_CLASS.context, 0, true, "the ContentInfo content [0]");
  expectNoMore(contentInfo.children, 2, "the ContentInfo");
  const envelopedData = sequence(wrapper!.children[0], "the EnvelopedData");
  expectNoMore(wrapper!.children, 1, "the ContentInfo content [0]");

  const fields = envelopedData.children;
  const version = readSmallInteger(fields[0], "the EnvelopedData version");
  if (hasTag(fields[1], TAG_CLASS.context, 0)) throw new KmsEnvelopeError(`the EnvelopedData has originatorInfo at offset ${fields[1].offset}, which KMS never sends`);
  const recipientInfos = expectElement(fields[1], TAG_CLASS.universal, UNIVERSAL.set, true, "the EnvelopedData recipientInfos");
  const encryptedContentInfo = sequence(fields[2], "the EncryptedContentInfo");
  if (hasTag(fields[3], TAG_CLASS.context, 1)) throw new KmsEnvelopeError(`the EnvelopedData has unprotectedAttrs at offset ${fields[3].offset}, which KMS never sends`);
  expectNoMore(fields, 3, "the EnvelopedData");

  // Exactly one recipient, and it must be a KeyTransRecipientInfo.
  const recipients = recipientInfos.children;
  if (recipients.length !== 1) throw new KmsEnvelopeError(`the EnvelopedData has ${recipients.length} recipients at offset ${recipientInfos.offset}; exactly one is expected`);
  const recipient = recipients[0]!;
  if (recipient.tagClass === TAG_CLASS.context) {
    const kind = ["?", "KeyAgreeRecipientInfo", "KEKRecipientInfo", "PasswordRecipientInfo", "OtherRecipientInfo"][recipient.tagNumber] ?? "an unknown RecipientInfo";
    throw new KmsEnvelopeError(`the recipient at offset ${recipient.offset} is a ${kind}, not a KeyTransRecipientInfo`);
  }
  const ktri = sequence(recipient, "the KeyTransRecipientInfo");
  const [ktriVersionElement, rid, keyEncryptionAlgorithm, encryptedKeyElement] = ktri.children;
  const ktriVersion = readSmallInteger(ktriVersionElement, "the KeyTransRecipientInfo version");
  // RFC 5652 §6.2.1: version 0 with issuerAndSerialNumber, 2 with subjectKeyIdentifier.
  if (hasTag(rid, TAG_CLASS.universal, UNIVERSAL.sequence) && rid.constructed) {
    if (ktriVersion !== 0) throw new KmsEnvelopeError(`the KeyTransRecipientInfo version is ${ktriVersion}; with an issuerAndSerialNumber it must be 0`);
  } else if (hasTag(rid, TAG_CLASS.context, 0)) {
    if (ktriVersion !== 2) throw new KmsEnvelopeError(`the KeyTransRecipientInfo version is ${ktriVersion}; with a subjectKeyIdentifier it must be 2`);
    readOctets(rid, "the recipient's subjectKeyIdentifier");
  } else {
    const given = ktri.children[1];
    const found = given === undefined ? "missing" : `${describeElement(given)} at offset ${given.offset}`;
    throw new KmsEnvelopeError(`the recipient identifier is ${found}, not an issuerAndSerialNumber or a subjectKeyIdentifier [0]`);
  }
  // RFC 5652 §6.1: with no originatorInfo or unprotectedAttrs, 0 when every recipient is version 0, else 2.
  const expectedVersion = ktriVersion === 0 ? 0 : 2;
  if (version !== expectedVersion) throw new KmsEnvelopeError(`the EnvelopedData version is ${version}; RFC 5652 requires ${expectedVersion} here`);

  const keyAlgorithm = sequence(keyEncryptionAlgorithm, "the key encryption algorithm");
  const [keyAlgorithmOid, oaepParameters] = keyAlgorithm.children;
  expectOid(keyAlgorithmOid, OIDS.rsaesOaep, "the key encryption algorithm");
  expectOaepSha256(oaepParameters);
  expectNoMore(keyAlgorithm.children, 2, "the key encryption algorithm");
  const encryptedKey = octetString(encryptedKeyElement, "the encrypted key");
  if (encryptedKey.length < MIN_ENCRYPTED_KEY_BYTES || encryptedKey.length > MAX_ENCRYPTED_KEY_BYTES) {
    throw new KmsEnvelopeError(`the encrypted key is ${encryptedKey.length} bytes; an RSA-2048 to RSA-8192 ciphertext is ${MIN_ENCRYPTED_KEY_BYTES} to ${MAX_ENCRYPTED_KEY_BYTES}`);
  }
  expectNoMore(ktri.children, 4, "the KeyTransRecipientInfo");

  const [innerType, contentAlgorithmElement, encryptedContentElement] = encryptedContentInfo.children;
  expectOid(innerType, OIDS.data, "the encrypted content type");
  const contentAlgorithm = sequence(contentAlgorithmElement, "the content encryption algorithm");
  const [contentAlgorithmOid, ivElement] = contentAlgorithm.children;
  expectOid(contentAlgorithmOid, OIDS.aes256Cbc, "the content encryption algorithm");
  const iv = octetString(ivElement, "the AES-256-CBC IV");
  if (iv.length !== AES_BLOCK_BYTES) throw new KmsEnvelopeError(`the AES-256-CBC IV is ${iv.length} bytes, not ${AES_BLOCK_BYTES}`);
  expectNoMore(contentAlgorithm.children, 2, "the content encryption algorithm");
  if (encryptedContentElement === undefined) throw new KmsEnvelopeError("the encrypted content is absent (detached content is not supported)");
  if (encryptedContentElement.tagClass !== TAG_CLASS.context || encryptedContentElement.tagNumber !== 0) {
    throw new KmsEnvelopeError(`the encrypted content at offset ${encryptedContentElement.offset} is ${describeElement(encryptedContentElement)}, not [0]`);
  }
  const encryptedContent = readOctets(encryptedContentElement, "the encrypted content");
  if (encryptedContent.length === 0 || encryptedContent.length % AES_BLOCK_BYTES !== 0) {
    throw new KmsEnvelopeError(`the encrypted content is ${encryptedContent.length} bytes, not a positive multiple of the ${AES_BLOCK_BYTES}-byte AES block`);
  }
  expectNoMore(encryptedContentInfo.children, 3, "the EncryptedContentInfo");

  return { encryptedKey, iv, encryptedContent };
}

/** A fresh Uint8Array (never a slice of Node's shared Buffer pool) holding the pieces; the pieces are zeroed. */
function joinAndZero(pieces: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(pieces.reduce((sum, piece) => sum + piece.length, 0));
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.length;
    piece.fill(0);
  }
  return out;
}

/**
 * Parses the envelope and decrypts it with the recipient's private key:
 * RSAES-OAEP-SHA-256 for the content-encryption key, then AES-256-CBC with
 * PKCS #7 padding. The AES key is zeroed before returning. Every failure is a
 * KmsEnvelopeError. The caller owns (and must zero) the returned plaintext.
 */
export function openCiphertextForRecipient(bytes: Uint8Array, privateKey: KeyObject): Uint8Array {
  const envelope = parseCiphertextForRecipient(bytes);
  if (!(privateKey instanceof KeyObject) || privateKey.type !== "private" || privateKey.asymmetricKeyType !== "rsa") {
    throw new KmsEnvelopeError("the recipient key is not an RSA private key");
  }
  let contentKey: Uint8Array;
  try {
    contentKey = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, envelope.encryptedKey);
  } catch {
    // One message for every RSA failure: nothing about why (no padding oracle).
    throw new KmsEnvelopeError("the content-encryption key could not be decrypted with this recipient key");
  }
  const pieces: Uint8Array[] = [];
  try {
    if (contentKey.length !== AES_KEY_BYTES) throw new KmsEnvelopeError(`the content-encryption key is ${contentKey.length} bytes, not ${AES_KEY_BYTES}`);
    // OpenSSL keeps its own copy of the key schedule inside the cipher context; JavaScript cannot zero that one.
    const decipher = createDecipheriv("aes-256-cbc", contentKey, envelope.iv);
    try {
      pieces.push(decipher.update(envelope.encryptedContent));
      pieces.push(decipher.final());
    } catch {
      throw new KmsEnvelopeError("the content could not be decrypted (wrong key or corrupted ciphertext)");
    }
    return joinAndZero(pieces);
  } finally {
    contentKey.fill(0);
    for (const piece of pieces) piece.fill(0);
  }
}

export interface SealOptions {
  /** "ber-indefinite" (default): as AWS KMS sends it. "der": definite lengths, primitive content. */
  readonly encoding?: "ber-indefinite" | "der";
}

/** A constructed element with an indefinite length, closed by end-of-contents. */
function berIndefinite(identifier: number, ...contents: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat([Uint8Array.of(identifier, 0x80), ...contents, Uint8Array.of(0, 0)]));
}

function checkRecipientSpki(recipientSpki: Uint8Array): KeyObject {
  if (!(recipientSpki instanceof Uint8Array) || recipientSpki.length === 0 || recipientSpki.length > MAX_SPKI_BYTES) {
    throw new KmsEnvelopeError(`the recipient public key is not a DER SubjectPublicKeyInfo of at most ${MAX_SPKI_BYTES} bytes`);
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(recipientSpki), format: "der", type: "spki" });
  } catch {
    throw new KmsEnvelopeError("the recipient public key is not a valid DER SubjectPublicKeyInfo");
  }
  if (key.asymmetricKeyType !== "rsa") throw new KmsEnvelopeError(`the recipient public key is ${key.asymmetricKeyType ?? "of an unknown type"}, not RSA`);
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) throw new KmsEnvelopeError(`the recipient public key is RSA-${bits}; at least RSA-${MIN_RSA_BITS} is required`);
  return key;
}

/**
 * Seals `plaintext` to the RSA public key in `recipientSpki` as KMS does for
 * CiphertextForRecipient: a random AES-256 key and IV, AES-256-CBC with PKCS #7
 * padding, the key under RSAES-OAEP-SHA-256, in the CMS structure above. The
 * subjectKeyIdentifier is SHA-256 of the SPKI (the parser does not use it).
 */
export function sealForRecipient(plaintext: Uint8Array, recipientSpki: Uint8Array, options: SealOptions = {}): Uint8Array {
  const encoding = options.encoding ?? "ber-indefinite";
  if (encoding !== "ber-indefinite" && encoding !== "der") throw new KmsEnvelopeError(`unknown envelope encoding "${String(encoding)}"`);
  if (!(plaintext instanceof Uint8Array)) throw new KmsEnvelopeError("the plaintext is not a byte array");
  const recipientKey = checkRecipientSpki(recipientSpki);

  const contentKey = getRandomValues(new Uint8Array(AES_KEY_BYTES));
  const iv = getRandomValues(new Uint8Array(AES_BLOCK_BYTES));
  let encryptedKey: Uint8Array;
  let encryptedContent: Uint8Array;
  try {
    encryptedKey = publicEncrypt({ key: recipientKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, contentKey);
    const cipher = createCipheriv("aes-256-cbc", contentKey, iv);
    encryptedContent = new Uint8Array(Buffer.concat([cipher.update(plaintext), cipher.final()]));
  } finally {
    contentKey.fill(0);
  }

  const sha256Algorithm = derSequence(derOid(OIDS.sha256), Uint8Array.of(0x05, 0x00));
  const oaepAlgorithm = derSequence(derOid(OIDS.rsaesOaep), derSequence(derExplicit(0, sha256Algorithm), derExplicit(1, derSequence(derOid(OIDS.mgf1), sha256Algorithm))));
  const subjectKeyIdentifier = new Uint8Array(createHash("sha256").update(recipientSpki).digest());
  const recipientInfo = derSequence(derInteger(2), derElement(0x80, subjectKeyIdentifier), oaepAlgorithm, derOctetString(encryptedKey));
  const contentAlgorithm = derSequence(derOid(OIDS.aes256Cbc), derOctetString(iv));

  if (encoding === "der") {
    const encryptedContentInfo = derSequence(derOid(OIDS.data), contentAlgorithm, derElement(0x80, encryptedContent));
    const envelopedData = derSequence(derInteger(2), derSet(recipientInfo), encryptedContentInfo);
    return derSequence(derOid(OIDS.envelopedData), derExplicit(0, envelopedData));
  }
  const pieces: Uint8Array[] = [];
  for (let at = 0; at < encryptedContent.length; at += CONTENT_PIECE_BYTES) pieces.push(derOctetString(encryptedContent.subarray(at, at + CONTENT_PIECE_BYTES)));
  const encryptedContentInfo = berIndefinite(0x30, derOid(OIDS.data), contentAlgorithm, berIndefinite(0xa0, ...pieces));
  const envelopedData = berIndefinite(0x30, derInteger(2), derSet(recipientInfo), encryptedContentInfo);
  return berIndefinite(0x30, derOid(OIDS.envelopedData), berIndefinite(0xa0, envelopedData));
}
