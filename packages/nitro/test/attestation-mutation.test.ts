// Single-bit mutations of the real production document must all be refused,
// with an AttestationError and nothing else.
//
// Coverage (all deterministic):
// - every bit of the document: the COSE envelope, protected header,
//   signature, every key, header, text and integer of the payload, the PCR
//   values, public_key, user_data and nonce, and every certificate (signing
//   certificate and cabundle) in full. About 80 s of CPU on this machine (a
//   refused payload change costs one P-384 verification), spread over workers.
// - separately, the certificate path check alone (without the COSE signature,
//   which would otherwise catch any change first), for each non-root
//   certificate: every bit of its DER framing outside the to-be-signed part
//   (outer header, signatureAlgorithm, the BIT STRING header and unused-bits
//   octet, the ECDSA-Sig-Value's SEQUENCE and INTEGER headers), and one bit in
//   thirteen of the to-be-signed part and of the signature's r and s.
// No bit was found that cannot matter: the payload is signed, the envelope and
// payload must be their own canonical encoding, the root is compared byte for
// byte, the issuers' signatures cover the to-be-signed parts and the rest of
// each certificate is fixed (algorithm) or is the signature itself.
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { describe, expect, test } from "vitest";
import { readChildren, readDer, TAG } from "../src/x509/der.ts";
import { PRODUCTION, takeApart } from "./attestation-fixtures.ts";
import type { MutationJob, MutationResult } from "./attestation-mutation-worker.ts";

const WORKER = new URL("./attestation-mutation-worker.ts", import.meta.url);

/** Runs the bits in parallel workers and merges their reports. */
async function mutate(job: MutationJob): Promise<MutationResult> {
  const workers = Math.max(1, Math.min(availableParallelism(), 8));
  const shares = Array.from({ length: workers }, (_, w) => job.bits.filter((_, i) => i % workers === w));
  const results = await Promise.all(
    shares.map(
      (bits) =>
        new Promise<MutationResult>((resolve, reject) => {
          const worker = new Worker(WORKER, { workerData: { ...job, bits } });
          worker.once("message", resolve);
          worker.once("error", reject);
        }),
    ),
  );
  const failures: Record<string, number> = {};
  for (const result of results) for (const [kind, n] of Object.entries(result.failures)) failures[kind] = (failures[kind] ?? 0) + n;
  return { accepted: results.flatMap((r) => r.accepted), otherErrors: results.flatMap((r) => r.otherErrors), failures };
}

const bitsOf = (start: number, end: number) => Array.from({ length: (end - start) * 8 }, (_, i) => start * 8 + i);

/** Byte ranges [start, end) of the PCR values and of public_key, user_data and nonce in the document, found from its layout. */
function opaqueRanges(document: Uint8Array): [number, number][] {
  const bytes = Buffer.from(document);
  const ranges: [number, number][] = [];
  const pcrs = bytes.indexOf(Buffer.from("6470637273b0", "hex")) + 6; // "pcrs", then a map of 16
  for (let i = 0; i < 16; i++) {
    const entry = pcrs + i * 51;
    expect([...bytes.subarray(entry, entry + 3)]).toEqual([i, 0x58, 0x30]); // index, then a 48-byte string
    ranges.push([entry + 3, entry + 51]);
  }
  for (const key of ["public_key", "user_data", "nonce"]) {
    const header = Buffer.concat([Uint8Array.of(0x60 + key.length), Buffer.from(key), Uint8Array.of(0x59, 0x04, 0x00)]);
    const at = bytes.indexOf(header) + header.length; // the key, then a 1024-byte string
    expect(at).toBeGreaterThan(header.length);
    ranges.push([at, at + 1024]);
  }
  return ranges;
}

describe("single-bit mutations", () => {
  test("of the production document are all refused", { timeout: 600_000 }, async () => {
    const document = PRODUCTION.bytes;
    // The layout is as expected, so the opaque contents (PCRs, public_key, user_data, nonce) are among the bits flipped.
    expect(opaqueRanges(document).reduce((n, [start, end]) => n + end - start, 0)).toBe(16 * 48 + 3 * 1024);
    const bits = bitsOf(0, document.length);
    const result = await mutate({ kind: "document", document, now: PRODUCTION.at.getTime(), bits });
    expect(result.otherErrors).toEqual([]);
    expect(result.accepted).toEqual([]);
    // Every kind of check takes part, and the counts add up to every mutation tried.
    expect(Object.values(result.failures).reduce((a, b) => a + b, 0)).toBe(bits.length);
    expect(Object.keys(result.failures).sort()).toEqual(["expired", "invalid-chain", "invalid-signature", "malformed", "not-yet-valid", "untrusted-root"]);
  });

  test("of any certificate fail the path check on their own", { timeout: 600_000 }, async () => {
    const { payload } = takeApart(PRODUCTION.bytes);
    const certificates = [...(payload.get("cabundle") as Uint8Array[]), payload.get("certificate") as Uint8Array];
    for (let target = 1; target < certificates.length; target++) {
      const der = certificates[target]!;
      const offset = (element: { content: Uint8Array }) => element.content.byteOffset - der.byteOffset;
      const [tbs, , signatureValue] = readChildren(readDer(der, TAG.sequence, "certificate"));
      // The signature BIT STRING holds an unused-bits octet, then SEQUENCE { INTEGER r, INTEGER s }.
      const [r, s] = readChildren(readDer(signatureValue!.content.subarray(1), TAG.sequence, "ECDSA-Sig-Value"));
      const sampled: [number, number][] = [tbs!, r!, s!].map((element) => [offset(element), offset(element) + element.content.length]);
      const inSampled = (bit: number) => sampled.some(([start, end]) => bit >= start * 8 && bit < end * 8);
      const bits = bitsOf(0, der.length).filter((bit) => !inSampled(bit) || bit % 13 === 0);
      const result = await mutate({ kind: "chain", certificates, target, now: PRODUCTION.at.getTime(), bits });
      expect(result.otherErrors, `certificate ${target}`).toEqual([]);
      expect(result.accepted, `certificate ${target}`).toEqual([]);
    }
  });
});
