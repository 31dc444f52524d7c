// Attestation through the simulated NSM: documents verify under the simulator's root (and only
// there), carry exactly the locked PCRs and the caller's user_data/nonce/public_key (null when
// absent), follow debug mode, and the size limits and failure codes hold.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AttestationError, verifyAttestationDocument } from "../src/attestation/index.ts";
import { type CborValue, decodeCbor } from "../src/cbor.ts";
import {
  decodeResponse,
  encodeRequest,
  NSM_RESPONSE_MAX_SIZE,
  NsmClient,
  NsmError,
  SimulatedNsm,
  type SimulatedNsmOptions,
} from "../src/nsm/index.ts";

const utf8 = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

let work: string;
let simDir: string;
let appDir: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "nsm-attest-"));
  simDir = join(work, "sim");
  appDir = join(work, "app");
  await mkdir(appDir);
  await writeFile(join(appDir, "main.js"), "enclave main\n");
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const boot = (extra: Partial<SimulatedNsmOptions> = {}) => SimulatedNsm.create({ simDir, applicationDir: appDir, ...extra });

/** The document's payload map as raw CBOR entries, to see exactly what was written (nulls included). */
function rawPayload(document: Uint8Array): Map<CborValue, CborValue> {
  const cose = decodeCbor(document, "the document");
  if (!Array.isArray(cose) || cose.length !== 4) throw new Error("not an untagged COSE_Sign1");
  const payload = decodeCbor(cose[2] as Uint8Array, "the payload");
  if (!(payload instanceof Map)) throw new Error("payload is not a map");
  return payload;
}

async function pcrValues(client: NsmClient, indexes: number[]): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  for (const i of indexes) out.set(i, hex((await client.describePcr(i)).value));
  return out;
}

describe("documents from the simulated NSM", () => {
  it("verify under the simulator's root and carry exactly the locked PCRs; optional fields null when absent", async () => {
    const time = new Date(Math.floor(Date.now() / 1000) * 1000 - 300_000 + 123); // a fixed instant with milliseconds
    const nsm = await SimulatedNsm.create({ simDir: join(work, "fixed-clock-sim"), applicationDir: appDir, now: () => time });
    const client = new NsmClient(nsm);
    const document = await client.attestation();
    const verified = verifyAttestationDocument(document, { root: nsm.rootCertificate, now: time });
    const doc = verified.document;
    expect(verified.debug).toBe(false);
    expect(doc.moduleId).toBe(nsm.moduleId);
    expect(doc.timestampMs).toBe(time.getTime());
    expect([...doc.pcrs.keys()]).toEqual(Array.from({ length: 16 }, (_, i) => i));
    const expected = await pcrValues(client, [...doc.pcrs.keys()]);
    for (const [i, v] of doc.pcrs) expect(hex(v)).toBe(expected.get(i));
    expect(hex(doc.pcrs.get(0) as Uint8Array)).toBe(hex(nsm.measurements.pcr0));
    expect(doc.userData).toBeUndefined();
    expect(doc.nonce).toBeUndefined();
    expect(doc.publicKey).toBeUndefined();
    const raw = rawPayload(document);
    expect(raw.get("user_data")).toBeNull();
    expect(raw.get("nonce")).toBeNull();
    expect(raw.get("public_key")).toBeNull();
    expect(raw.get("timestamp")).toBe(BigInt(time.getTime())); // 8 bytes on the wire, so a bigint
    // The document pins the measured image: a policy naming PCR0/1/2 accepts it.
    const policy = new Map([
      [0, nsm.measurements.pcr0],
      [1, nsm.measurements.pcr1],
      [2, nsm.measurements.pcr2],
    ]);
    expect(() => verifyAttestationDocument(document, { root: nsm.rootCertificate, now: time, expectedPcrs: policy })).not.toThrow();
  });

  it("carry user_data, nonce and public_key exactly as given (an empty nonce stays an empty byte string)", async () => {
    const nsm = await boot();
    const client = new NsmClient(nsm);
    const userData = utf8("aTLS binding: sha384 of the certificate");
    const publicKey = new Uint8Array(294).fill(0x30); // the size of an RSA-2048 SPKI
    const document = await client.attestation({ userData, nonce: new Uint8Array(0), publicKey });
    const { document: doc } = verifyAttestationDocument(document, { root: nsm.rootCertificate });
    expect(hex(doc.userData as Uint8Array)).toBe(hex(userData));
    expect(hex(doc.publicKey as Uint8Array)).toBe(hex(publicKey));
    expect(doc.nonce?.length).toBe(0);
    const raw = rawPayload(document);
    expect(raw.get("nonce")).toEqual(new Uint8Array(0));
    expect(hex(raw.get("user_data") as Uint8Array)).toBe(hex(userData));
  });

  it("follow the PCRs the enclave locks: an extended and locked PCR16, then all 32 after LockPCRs", async () => {
    const nsm = await boot();
    const client = new NsmClient(nsm);
    const v16 = await client.extendPcr(16, utf8("config digest"));
    await client.extendPcr(17, utf8("unlocked, so not attested"));
    await client.lockPcr(16);
    let doc = verifyAttestationDocument(await client.attestation(), { root: nsm.rootCertificate }).document;
    expect([...doc.pcrs.keys()]).toEqual(Array.from({ length: 17 }, (_, i) => i)); // 0–15 and 16
    expect(hex(doc.pcrs.get(16) as Uint8Array)).toBe(hex(v16));
    expect(doc.pcrs.has(17)).toBe(false);
    await client.lockPcrs(32);
    doc = verifyAttestationDocument(await client.attestation(), { root: nsm.rootCertificate }).document;
    expect([...doc.pcrs.keys()]).toEqual(Array.from({ length: 32 }, (_, i) => i));
    const expected = await pcrValues(client, Array.from({ length: 32 }, (_, i) => i));
    for (const [i, v] of doc.pcrs) expect(hex(v)).toBe(expected.get(i));
  });

  it("do not verify under another root (AWS's, or another simulator's)", async () => {
    const nsm = await boot();
    const document = await new NsmClient(nsm).attestation({ nonce: utf8("n") });
    expect(() => verifyAttestationDocument(document)).toThrow(AttestationError);
    const other = await SimulatedNsm.create({ simDir: join(work, "other-sim"), applicationDir: appDir });
    expect(hex(other.rootCertificate)).not.toBe(hex(nsm.rootCertificate));
    try {
      verifyAttestationDocument(document, { root: other.rootCertificate });
      throw new Error("verified under the wrong root");
    } catch (error) {
      expect(error).toBeInstanceOf(AttestationError);
      expect((error as AttestationError).failure).toBe("untrusted-root");
    }
  });

  it("the same simDir keeps the same root across boots", async () => {
    const a = await boot();
    const b = await boot();
    expect(hex(a.rootCertificate)).toBe(hex(b.rootCertificate));
    const document = await new NsmClient(b).attestation();
    expect(verifyAttestationDocument(document, { root: a.rootCertificate }).document.moduleId).toBe(b.moduleId);
  });
});

describe("debug mode documents", () => {
  it("have PCR0/1/2/8 zero and PCR3/4 kept; a verifier refuses them unless debug is allowed", async () => {
    const nsm = await boot({ debug: true, signingCertificate: new Uint8Array([0x30, 0x00]) });
    const document = await new NsmClient(nsm).attestation({ userData: utf8("u") });
    try {
      verifyAttestationDocument(document, { root: nsm.rootCertificate });
      throw new Error("a debug document verified without allowDebug");
    } catch (error) {
      expect((error as AttestationError).failure).toBe("debug-enclave");
    }
    const verified = verifyAttestationDocument(document, { root: nsm.rootCertificate, allowDebug: true });
    expect(verified.debug).toBe(true);
    const pcrs = verified.document.pcrs;
    for (const i of [0, 1, 2, 8]) expect(hex(pcrs.get(i) as Uint8Array)).toBe("00".repeat(48));
    expect(hex(pcrs.get(3) as Uint8Array)).toBe(hex(nsm.measurements.pcr3));
    expect(hex(pcrs.get(4) as Uint8Array)).toBe(hex(nsm.measurements.pcr4));
  });
});

describe("limits and failures", () => {
  it("1024 bytes in each of user_data, nonce and public_key are accepted (as on the real NSM) and fit the response buffer", async () => {
    const nsm = await boot();
    await new NsmClient(nsm).lockPcrs(32); // the largest pcrs map too
    const field = new Uint8Array(1024).fill(128);
    const raw = await nsm.request(encodeRequest({ type: "Attestation", userData: field, nonce: field, publicKey: field }));
    expect(raw.length).toBeLessThanOrEqual(NSM_RESPONSE_MAX_SIZE);
    const response = decodeResponse(raw);
    expect(response.type).toBe("Attestation");
    const doc = verifyAttestationDocument((response as { document: Uint8Array }).document, { root: nsm.rootCertificate }).document;
    expect(doc.userData?.length).toBe(1024);
    expect(doc.nonce?.length).toBe(1024);
    expect(doc.publicKey?.length).toBe(1024);
  });

  it("1025 bytes in any field → InputTooLarge; an empty public_key → InvalidArgument", async () => {
    const client = new NsmClient(await boot());
    const big = new Uint8Array(1025);
    for (const fields of [{ userData: big }, { nonce: big }, { publicKey: big }]) {
      await expect(client.attestation(fields)).rejects.toMatchObject({ name: "NsmError", code: "InputTooLarge" });
    }
    await expect(client.attestation({ publicKey: new Uint8Array(0) })).rejects.toMatchObject({ code: "InvalidArgument" });
  });

  it("a clock outside the simulated CA's validity → InternalError, and the module keeps working", async () => {
    await boot(); // make sure the root exists in simDir, dated now
    const nsm = await boot({ now: () => new Date("1990-01-01T00:00:00Z") });
    const client = new NsmClient(nsm);
    const error = await client.attestation().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NsmError);
    expect((error as NsmError).code).toBe("InternalError");
    expect((await client.describePcr(0)).locked).toBe(true);
  });
});
