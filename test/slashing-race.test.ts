// Two real signer processes share one slashing database and are hammered with
// conflicting requests for the same validators; an independent checker over
// every signature actually returned must find no slashable pair.
import { afterAll, describe, expect, test } from "vitest";
import { Pool } from "undici";
import { startCli, type CliProcess } from "./support/cli-process.ts";
import { interopKeyConfigDir } from "./support/interop-key-files.ts";
import { attestationRequest, blockRequest } from "./support/mainnet-requests.ts";
import { pick, seededRandom } from "./support/random.ts";
import { dynamoFixture, postgresFixture, type BackendFixture } from "./support/slashing-backends.ts";

const VALIDATORS = 3;
const REQUESTS = 3000;
const BASE_EPOCH = 370_000n;

type Attempt =
  | { kind: "block"; key: number; slot: bigint; tag: number }
  | { kind: "attestation"; key: number; source: bigint; target: bigint; tag: number };

/** Blocks over a few slots and attestations over a small window, with few distinct payloads: conflicts are everywhere. */
function attempts(): Attempt[] {
  const random = seededRandom(7);
  return Array.from({ length: REQUESTS }, (): Attempt => {
    const key = Math.floor(random() * VALIDATORS);
    const tag = 1 + Math.floor(random() * 3);
    if (random() < 0.3) return { kind: "block", key, slot: BASE_EPOCH * 32n + BigInt(Math.floor(random() * 8)), tag };
    const source = BASE_EPOCH + BigInt(Math.floor(random() * 6));
    return { kind: "attestation", key, source, target: source + 1n + BigInt(Math.floor(random() * 4)), tag };
  });
}

/** The slashing conditions of the consensus spec, applied to what was signed (same payload ⇔ same tag). */
function slashablePairs(signed: Attempt[]): string[] {
  const problems: string[] = [];
  for (let i = 0; i < signed.length; i++) {
    for (let j = i + 1; j < signed.length; j++) {
      const a = signed[i]!;
      const b = signed[j]!;
      if (a.key !== b.key || a.kind !== b.kind) continue;
      if (a.kind === "block" && b.kind === "block") {
        if (a.slot === b.slot && a.tag !== b.tag) problems.push(`double proposal at slot ${a.slot}`);
      } else if (a.kind === "attestation" && b.kind === "attestation") {
        if (a.target === b.target && a.tag !== b.tag) problems.push(`double vote at target ${a.target}`);
        if ((a.source < b.source && a.target > b.target) || (b.source < a.source && b.target > a.target)) {
          problems.push(`surround: ${a.source}->${a.target} vs ${b.source}->${b.target}`);
        }
      }
    }
  }
  return problems;
}

describe.each([
  ["PostgreSQL", postgresFixture],
  ["DynamoDB", dynamoFixture],
] as const)("two signer processes sharing one %s database", (_name, startFixture) => {
  let fixture: BackendFixture | undefined;
  const signers: CliProcess[] = [];
  afterAll(async () => {
    await Promise.all(signers.map((s) => s.stop()));
    await fixture?.stop();
  });

  test("thousands of conflicting requests: zero slashable pairs signed, every refusal a 412", async () => {
    fixture = await startFixture();
    const dbUrl = await fixture.freshUrl();
    const keys = interopKeyConfigDir(VALIDATORS);
    const env = { AWS_ACCESS_KEY_ID: "strongroom-test", AWS_SECRET_ACCESS_KEY: "strongroom-test" };
    for (let i = 0; i < 2; i++) {
      signers.push(
        // A generous database bound: this test is about correctness under races, on a database sharing two cores with everything else.
        startCli(
          ["signer", "--auth-unauthenticated-policy=loopback", "--http-port=0", `--key-config-path=${keys.dir}`, `--slashing-protection-db-url=${dbUrl}`, "--slashing-protection-db-timeout-ms=30000", "--signing-threads=1"],
          env,
        ),
      );
    }
    const urls = await Promise.all(signers.map(async (s) => (await s.waitForOutput(/"url":"(http:\/\/[^"]+)"/))[1]!));
    await Promise.all(signers.map((s) => s.waitForOutput(/key loading finished/)));
    const pools = urls.map((url) => new Pool(url, { connections: 8 }));
    const random = seededRandom(11);

    const signed: Attempt[] = [];
    const statuses = new Map<number, number>();
    const all = attempts();
    for (let i = 0; i < all.length; i += 32) {
      await Promise.all(
        all.slice(i, i + 32).map(async (attempt) => {
          const body = attempt.kind === "block" ? blockRequest(attempt.slot, attempt.tag) : attestationRequest(attempt.source, attempt.target, attempt.tag);
          const res = await pick(random, pools).request({
            method: "POST",
            path: `/api/v1/eth2/sign/${keys.publicKeys[attempt.key]}`,
            headers: { "content-type": "application/json", accept: "application/json" },
            body: JSON.stringify(body),
          });
          const text = await res.body.text();
          statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
          if (res.statusCode === 200) {
            expect(JSON.parse(text).signature).toMatch(/^0x[0-9a-f]{192}$/);
            signed.push(attempt);
          }
        }),
      );
    }
    await Promise.all(pools.map((p) => p.close()));

    expect([...statuses.keys()].sort()).toEqual([200, 412]);
    expect(signed.length).toBeGreaterThan(20);
    expect(slashablePairs(signed)).toEqual([]);
    for (const signer of signers) expect(signer.child.exitCode).toBeNull();
  });
});
