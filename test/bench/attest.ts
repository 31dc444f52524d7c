// attest: full verifications per second of the real production attestation
// document (AWS's root, at its own timestamp: COSE and payload checks, the
// path of five certificates, the COSE signature and four issuer signatures),
// on one core, in rounds; against the bare P-384 verification rate, since a
// document costs five ECDSA P-384 verifications and little else.
import { generateKeyPairSync, sign, verify } from "node:crypto";
import { readFileSync } from "node:fs";
import { verifyAttestationDocument } from "@strongroom/nitro";

const SECONDS = Number(process.env["BENCH_SECONDS"] ?? 4);
const ROUNDS = 3;
const ECDSA_PER_DOCUMENT = 5;

const document = new Uint8Array(Buffer.from(readFileSync(new URL("../../../shared/vectors/nitro/aws-production-2024-09-07.b64", import.meta.url), "utf8"), "base64"));
const now = new Date(1725719859545);

/** Calls `work` for `ms` milliseconds and returns the calls per second. */
function rate(ms: number, work: () => void): number {
  let count = 0;
  const started = performance.now();
  const end = started + ms;
  while (performance.now() < end) {
    work();
    count++;
  }
  return count / ((performance.now() - started) / 1000);
}

const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-384" });
const message = new Uint8Array(document.length);
const signature = sign("sha384", message, { key: privateKey, dsaEncoding: "ieee-p1363" });
const rawVerify = () => void verify("sha384", message, { key: publicKey, dsaEncoding: "ieee-p1363" }, signature);
const fullVerify = () => void verifyAttestationDocument(document, { now });

rate(1000, fullVerify);
rate(500, rawVerify);
const rounds: { verificationsPerSecond: number; rawP384VerifiesPerSecond: number }[] = [];
for (let round = 0; round < ROUNDS; round++) {
  // Alternating, so that drift on a shared machine hits both alike.
  const verificationsPerSecond = rate((SECONDS * 1000) / ROUNDS, fullVerify);
  const rawP384VerifiesPerSecond = rate((SECONDS * 1000) / ROUNDS / 2, rawVerify);
  rounds.push({ verificationsPerSecond: Math.round(verificationsPerSecond), rawP384VerifiesPerSecond: Math.round(rawP384VerifiesPerSecond) });
  process.stderr.write(`attest: round ${round + 1}: ${verificationsPerSecond.toFixed(0)} verifications/s, ${rawP384VerifiesPerSecond.toFixed(0)} raw P-384 verifies/s\n`);
}
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
const verificationsPerSecond = mean(rounds.map((r) => r.verificationsPerSecond));
const rawP384VerifiesPerSecond = mean(rounds.map((r) => r.rawP384VerifiesPerSecond));
console.log(
  JSON.stringify({
    name: "attest",
    document: "aws-production-2024-09-07 (7539 bytes, 5 certificates)",
    cores: 1,
    verificationsPerSecond: Math.round(verificationsPerSecond),
    msPerVerification: Number((1000 / verificationsPerSecond).toFixed(3)),
    rawP384VerifiesPerSecond: Math.round(rawP384VerifiesPerSecond),
    ecdsaPerDocument: ECDSA_PER_DOCUMENT,
    // 1.0 would be a verifier that costs nothing but its five ECDSA verifications.
    fractionOfEcdsaBound: Number((verificationsPerSecond / (rawP384VerifiesPerSecond / ECDSA_PER_DOCUMENT)).toFixed(3)),
    rounds,
  }),
);
