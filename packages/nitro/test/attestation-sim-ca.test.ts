import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { readBoolean, readChildren, readDer, readOid, TAG, type DerElement } from "../src/x509/der.ts";
import { issueAttestationDocument, loadOrCreateSimulatedCa, verifyAttestationDocument, type SimulatedCa } from "../src/attestation/index.ts";
import { parseCertificate } from "../src/attestation/chain.ts";
import type { Certificate } from "../src/x509/certificate.ts";
import { DEBUG, expectRefusal, PRODUCTION, takeApart, testPcrs } from "./attestation-fixtures.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const T0 = new Date("2031-03-01T12:00:00.250Z");
const MODULE_ID = "i-0f1e2d3c4b5a69788-enc0123456789abcdef";

const newDirectory = () => mkdtempSync(join(tmpdir(), "strongroom-sim-ca-"));
const newCa = (now = T0) => loadOrCreateSimulatedCa(newDirectory(), { now: () => now });
const issue = (ca: SimulatedCa, timestamp: Date, moduleId = MODULE_ID) => issueAttestationDocument(ca, { moduleId, timestamp, pcrs: testPcrs() });
const chainOf = (document: Uint8Array): Certificate[] => {
  const { payload } = takeApart(document);
  return [...(payload.get("cabundle") as Uint8Array[]), payload.get("certificate") as Uint8Array].map((der, i) => parseCertificate(der, `certificate ${i}`));
};

describe("simulated attestation documents", () => {
  test("verify with the simulator's root (DER or its PEM file) and carry the given fields", () => {
    const ca = newCa();
    const fields = { moduleId: MODULE_ID, timestamp: T0, pcrs: testPcrs(), publicKey: new Uint8Array(91).fill(4), userData: new Uint8Array(1024).fill(7), nonce: new Uint8Array(32).fill(9) };
    const document = issueAttestationDocument(ca, fields);
    for (const root of [ca.rootCertificate, readFileSync(ca.rootCertificatePath, "utf8")]) {
      const verified = verifyAttestationDocument(document, { now: T0, root });
      expect(verified.document).toMatchObject({ moduleId: MODULE_ID, digest: "SHA384", timestampMs: T0.getTime(), publicKey: fields.publicKey, userData: fields.userData, nonce: fields.nonce });
      expect(verified.document.pcrs).toEqual(fields.pcrs);
      expect(verified.debug).toBe(false);
    }
  });

  test("are refused against the AWS root, which is the default", () => {
    const ca = newCa();
    expectRefusal(() => verifyAttestationDocument(issue(ca, T0), { now: T0 }), "untrusted-root", /not the pinned root .*aws.nitro-enclaves/);
  });

  test("write absent optional fields as null", () => {
    const ca = newCa();
    const document = issue(ca, T0);
    const { payload } = takeApart(document);
    expect([payload.get("public_key"), payload.get("user_data"), payload.get("nonce")]).toEqual([null, null, null]);
    const verified = verifyAttestationDocument(document, { now: T0, root: ca.rootCertificate });
    expect([verified.document.publicKey, verified.document.userData, verified.document.nonce]).toEqual([undefined, undefined, undefined]);
  });

  test("a debug-mode document (PCR0 zero) is refused unless allowed, as a real one", () => {
    const ca = newCa();
    const pcrs = new Map(testPcrs()).set(0, new Uint8Array(48));
    const document = issueAttestationDocument(ca, { moduleId: MODULE_ID, timestamp: T0, pcrs });
    expectRefusal(() => verifyAttestationDocument(document, { now: T0, root: ca.rootCertificate }), "debug-enclave");
    expect(verifyAttestationDocument(document, { now: T0, root: ca.rootCertificate, allowDebug: true }).debug).toBe(true);
  });
});

/** Each field's CBOR shape: key, major type and size, and for maps and arrays those of their entries. */
function layout(value: unknown): unknown {
  if (value instanceof Map) return { map: [...value].map(([k, v]) => [layout(k), layout(v)]) };
  if (Array.isArray(value)) return { array: value.map(layout) };
  if (value instanceof Uint8Array) return value.length > 0 && value[0] === 0x30 ? "bytes: DER SEQUENCE" : `bytes(${value.length})`;
  if (typeof value === "string") return `text(${value.length})`;
  return typeof value;
}

/** The extensions of a certificate as (OID, critical) pairs, in order. */
function extensions(der: Uint8Array): [string, boolean][] {
  const [tbs] = readChildren(readDer(der, TAG.sequence, "certificate"));
  const wrapper = readChildren(tbs!).at(-1)!;
  return readChildren(readChildren(wrapper)[0]!).map((extension) => {
    const parts: DerElement[] = readChildren(extension);
    return [readOid(parts[0]!, "extnID"), parts.length === 3 && readBoolean(parts[1]!, "critical")];
  });
}

describe("simulated documents have the layout of real ones", () => {
  const real = PRODUCTION.bytes;
  const ca = newCa(PRODUCTION.at);
  const realPayload = takeApart(real).payload;
  const realPcrs = realPayload.get("pcrs") as Map<number, Uint8Array>;
  const simulated = issueAttestationDocument(ca, {
    moduleId: realPayload.get("module_id") as string,
    timestamp: PRODUCTION.at,
    pcrs: realPcrs,
    publicKey: new Uint8Array(1024).fill(1),
    userData: new Uint8Array(1024).fill(2),
    nonce: new Uint8Array(1024).fill(3),
  });

  test("the same COSE envelope: protected header bytes, empty unprotected map, 96-byte signature", () => {
    const [a, b] = [takeApart(real), takeApart(simulated)];
    expect(b.protectedHeader).toEqual(a.protectedHeader);
    expect(b.unprotected).toEqual(a.unprotected);
    expect(b.signature.length).toBe(a.signature.length);
    // An untagged array of four, then a protected header of four bytes, an empty map and a payload with a two-byte length.
    expect([...simulated.subarray(0, 8)]).toEqual([...real.subarray(0, 8)]);
  });

  test("the same keys in the same order with the same types and sizes", () => {
    expect(layout(takeApart(simulated).payload)).toEqual(layout(realPayload));
    expect([...takeApart(simulated).payload.keys()]).toEqual(["module_id", "digest", "timestamp", "pcrs", "certificate", "cabundle", "public_key", "user_data", "nonce"]);
  });

  test("the same encodings of each value's header (uint64 timestamp, map of 16, long byte strings)", () => {
    const headerOf = (document: Uint8Array, key: string) => {
      const bytes = Buffer.from(document);
      const at = bytes.indexOf(Buffer.from(key)) + key.length;
      return bytes[at];
    };
    for (const key of ["module_id", "digest", "timestamp", "pcrs", "certificate", "cabundle", "public_key", "user_data", "nonce"]) {
      expect(headerOf(simulated, key), key).toBe(headerOf(real, key));
    }
  });

  test("a chain as deep as AWS's with the same extensions, criticality, constraints, key usages and algorithms", () => {
    const [realChain, simulatedChain] = [chainOf(real), chainOf(simulated)];
    expect(simulatedChain.length).toBe(realChain.length);
    realChain.forEach((certificate, level) => {
      const twin = simulatedChain[level]!;
      expect(extensions(twin.der), `level ${level}`).toEqual(extensions(certificate.der));
      expect(twin.basicConstraints, `level ${level}`).toEqual(certificate.basicConstraints);
      expect(twin.keyUsage, `level ${level}`).toBe(certificate.keyUsage);
      expect(twin.publicKey.asymmetricKeyDetails).toEqual(certificate.publicKey.asymmetricKeyDetails);
      expect(twin.der.length).toBeLessThanOrEqual(1024);
    });
  });

  test("lifetimes modelled on AWS's: signing 3 h, instance 1 day, zonal 6 days, regional 20 days, root 30 years", () => {
    const lifetimes = chainOf(simulated).map((c) => c.notAfter.getTime() - c.notBefore.getTime());
    expect(lifetimes).toEqual([30 * 365 * DAY, 20 * DAY, 6 * DAY, DAY, 3 * HOUR]);
    const realLifetimes = chainOf(real).map((c) => c.notAfter.getTime() - c.notBefore.getTime());
    expect(Math.abs(realLifetimes[4]! - 3 * HOUR)).toBeLessThan(MINUTE);
    expect(Math.abs(realLifetimes[3]! - DAY)).toBeLessThan(MINUTE);
  });

  test("the signing certificate is named after the module, as AWS's is", () => {
    expect(chainOf(simulated)[4]!.subjectName).toMatch(/CN=i-0a22e5c5f24d22174-enc0191cceb4289903f\.local-1\.simulator$/);
    expect(chainOf(DEBUG.bytes)[4]!.subjectName).toMatch(/CN=i-0a22e5c5f24d22174-enc0191ccebaf8feaba\.us-east-1\.aws$/);
  });
});

describe("the simulated CA's lifecycle", () => {
  test("keeps its root in the directory (key 0600) and reuses it after a restart", () => {
    const directory = newDirectory();
    const first = loadOrCreateSimulatedCa(directory, { now: () => T0 });
    expect(statSync(join(directory, "attestation-root.key")).mode & 0o777).toBe(0o600);
    expect(statSync(first.rootCertificatePath).mode & 0o777).toBe(0o644);
    // Nothing but these is reachable (or logged) from the CA object: the keys stay inside the module.
    expect(Object.keys(first).sort()).toEqual(["directory", "rootCertificate", "rootCertificatePath"]);
    const second = loadOrCreateSimulatedCa(directory, { now: () => new Date(T0.getTime() + DAY) });
    expect(second.rootCertificate).toEqual(first.rootCertificate);
    const document = issue(second, new Date(T0.getTime() + DAY));
    expect(verifyAttestationDocument(document, { now: new Date(T0.getTime() + DAY), root: first.rootCertificate }).document.moduleId).toBe(MODULE_ID);
    // A new root is dated by `now`, in whole seconds.
    expect(chainOf(document)[0]!.notBefore.toISOString()).toBe("2031-03-01T12:00:00.000Z");
  });

  test("refuses a private key others can read, and an incomplete directory", () => {
    const directory = newDirectory();
    loadOrCreateSimulatedCa(directory, { now: () => T0 });
    chmodSync(join(directory, "attestation-root.key"), 0o640);
    expect(() => loadOrCreateSimulatedCa(directory)).toThrow(/readable or writable by group or others .*0600/);
    chmodSync(join(directory, "attestation-root.key"), 0o600);
    rmSync(join(directory, "attestation-root.pem"));
    expect(() => loadOrCreateSimulatedCa(directory)).toThrow(/is incomplete/);
  });

  test("reuses a signing certificate while it has two hours left, then replaces only what nears expiry", () => {
    const ca = newCa();
    const at = (ms: number) => new Date(T0.getTime() + ms);
    // T0 is 12:00:00.250; the first signing certificate (from 12:00:00) expires at 15:00:00.
    const documents = [0, 30 * MINUTE, 59 * MINUTE, 61 * MINUTE, 23 * HOUR, 5 * DAY].map((offset) => ({ at: at(offset), chain: chainOf(issue(ca, at(offset))) }));
    const changes = (level: number) =>
      documents.map(({ chain }, i) => i > 0 && Buffer.compare(chain[level]!.der, documents[i - 1]!.chain[level]!.der) !== 0);
    expect(changes(4)).toEqual([false, false, false, true, true, true]); // signing (3 h): replaced when less than 2 h would remain
    expect(changes(3)).toEqual([false, false, false, false, true, true]); // instance (1 day)
    expect(changes(2)).toEqual([false, false, false, false, false, false]); // zonal (6 days) outlives 5 days + 2 h
    expect(changes(1)).toEqual([false, false, false, false, false, false]);
    expect(changes(0)).toEqual([false, false, false, false, false, false]);
    for (const { at: timestamp, chain } of documents) {
      expect(chain.every((c) => c.notBefore <= timestamp && c.notAfter.getTime() >= timestamp.getTime() + 2 * HOUR)).toBe(true);
    }
  });

  test("every document verifies from its timestamp to at least two hours later", () => {
    const ca = newCa();
    for (const offset of [0, 59 * MINUTE, 61 * MINUTE, 7 * DAY]) {
      const timestamp = new Date(T0.getTime() + offset);
      const document = issue(ca, timestamp);
      for (const now of [timestamp, new Date(timestamp.getTime() + 2 * HOUR)]) {
        expect(verifyAttestationDocument(document, { now, root: ca.rootCertificate }).document.timestampMs).toBe(timestamp.getTime());
      }
      const notBefore = chainOf(document)[4]!.notBefore;
      expectRefusal(() => verifyAttestationDocument(document, { now: new Date(notBefore.getTime() - 1), root: ca.rootCertificate }), "not-yet-valid");
    }
  });

  test("a new module ID gets a signing certificate of its own", () => {
    const ca = newCa();
    const [a, b] = [chainOf(issue(ca, T0, "i-00000000000000001-enc0000000000000001")), chainOf(issue(ca, T0, "i-00000000000000001-enc0000000000000002"))];
    expect(b[4]!.subjectName).toMatch(/enc0000000000000002\.local-1\.simulator$/);
    expect(b[3]!.der).toEqual(a[3]!.der);
  });

  test("cannot issue outside its root's validity, a document a verifier would refuse, nor for a CA it did not make", () => {
    const ca = newCa();
    expect(() => issue(ca, new Date(T0.getTime() - DAY))).toThrow(/does not cover/);
    expect(() => issueAttestationDocument(ca, { moduleId: MODULE_ID, timestamp: T0, pcrs: testPcrs(), userData: new Uint8Array(1025) })).toThrow(/cannot issue .*user_data is 1025 bytes/);
    expect(() => issueAttestationDocument(ca, { moduleId: "", timestamp: T0, pcrs: testPcrs() })).toThrow(RangeError);
    expect(() => issueAttestationDocument({ ...ca }, { moduleId: MODULE_ID, timestamp: T0, pcrs: testPcrs() })).toThrow(TypeError);
  });
});
