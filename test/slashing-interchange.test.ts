// EIP-3076 interchange through the CLI: import → sign → export → import into a
// fresh database gives the same protection; malformed files are refused with
// the reason.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "vitest";
import { runCliToEnd, startCli } from "./support/cli-process.ts";
import { interopKeyConfigDir } from "./support/interop-key-files.ts";
import { attestationRequest, blockRequest, MAINNET_GVR } from "./support/mainnet-requests.ts";

const keys = interopKeyConfigDir(1);
const pubkey = keys.publicKeys[0]!;
const work = mkdtempSync(join(tmpdir(), "strongroom-interchange-"));
const dbUrl = (name: string) => `pglite://${join(work, name)}`;

function interchange(data: unknown[], gvr = MAINNET_GVR): string {
  return JSON.stringify({ metadata: { interchange_format_version: "5", genesis_validators_root: gvr }, data });
}

/** Runs a signer on `url` for the duration of `work`, returning the statuses of the requests it sends. */
async function withSigner<T>(url: string, run: (sign: (body: Record<string, unknown>) => Promise<number>) => Promise<T>): Promise<T> {
  const signer = startCli(["signer", "--auth-unauthenticated-policy=loopback", "--http-port=0", `--key-config-path=${keys.dir}`, `--slashing-protection-db-url=${url}`]);
  try {
    const base = (await signer.waitForOutput(/"url":"(http:\/\/[^"]+)"/))[1]!;
    await signer.waitForOutput(/key loading finished/);
    return await run(async (body) => {
      const res = await fetch(`${base}/api/v1/eth2/sign/${pubkey}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      return res.status;
    });
  } finally {
    expect(await signer.stop()).toBe(0);
  }
}

test("import, sign, export, import into a fresh database: the same protection", async () => {
  const history = join(work, "history.json");
  writeFileSync(
    history,
    interchange([{ pubkey, signed_blocks: [{ slot: "11840000" }], signed_attestations: [{ source_epoch: "369990", target_epoch: "370000" }] }]),
  );
  const imported = await runCliToEnd(["slashing", "import", `--db=${dbUrl("a")}`, history]);
  expect(imported.stderr).toMatch(/^importing validators: 1\/1$/m);
  expect(imported.code).toBe(0);
  expect(imported.stdout).toMatch(/imported 1 validators, 1 blocks, 1 attestations/);

  // The imported history protects, and new signings are recorded.
  await withSigner(dbUrl("a"), async (sign) => {
    expect(await sign(blockRequest(11_839_999n, 1))).toBe(412);
    expect(await sign(attestationRequest(369_989n, 370_005n, 1))).toBe(412);
    expect(await sign(attestationRequest(370_000n, 370_001n, 1))).toBe(200);
    expect(await sign(blockRequest(11_840_100n, 1))).toBe(200);
  });

  const exported = join(work, "exported.json");
  const exporting = await runCliToEnd(["slashing", "export", `--db=${dbUrl("a")}`, `--pubkeys=${pubkey}`, exported]);
  expect(exporting.code, exporting.stderr).toBe(0);
  const file = JSON.parse(readFileSync(exported, "utf8")) as { data: { signed_blocks: { slot: string }[]; signed_attestations: { target_epoch: string }[] }[] };
  expect(file.data[0]!.signed_blocks.map((b) => b.slot)).toEqual(expect.arrayContaining(["11840000", "11840100"]));
  expect(file.data[0]!.signed_attestations.map((a) => a.target_epoch)).toEqual(expect.arrayContaining(["370000", "370001"]));

  expect((await runCliToEnd(["slashing", "import", `--db=${dbUrl("b")}`, exported])).code).toBe(0);
  await withSigner(dbUrl("b"), async (sign) => {
    expect(await sign(attestationRequest(370_000n, 370_001n, 1))).toBe(200); // the same message again
    expect(await sign(attestationRequest(370_000n, 370_001n, 2))).toBe(412); // double vote
    expect(await sign(attestationRequest(369_999n, 370_002n, 1))).toBe(412); // surrounds
    expect(await sign(blockRequest(11_840_100n, 2))).toBe(412); // double proposal
    expect(await sign(blockRequest(11_839_999n, 1))).toBe(412); // below the watermark
    expect(await sign(attestationRequest(370_001n, 370_002n, 1))).toBe(200);
  });

  const pruned = await runCliToEnd(["slashing", "prune", `--db=${dbUrl("b")}`, "--keep-epochs=1"]);
  expect(pruned.code, pruned.stderr).toBe(0);
  expect(pruned.stdout).toMatch(/pruned 1 blocks and 1 attestations/);
  const after = JSON.parse((await runCliToEnd(["slashing", "export", `--db=${dbUrl("b")}`, "-"])).stdout) as { data: { signed_attestations: { target_epoch: string }[] }[] };
  expect(after.data[0]!.signed_attestations.map((a) => a.target_epoch)).not.toContain("370000");
});

test("a mainnet database for the malformed files", async () => {
  const seed = join(work, "seed.json");
  writeFileSync(seed, interchange([]));
  expect((await runCliToEnd(["slashing", "import", `--db=${dbUrl("malformed")}`, seed])).code).toBe(0);
});

test.each([
  ["not JSON", "{", /not valid JSON/],
  ["wrong version", JSON.stringify({ metadata: { interchange_format_version: "4", genesis_validators_root: MAINNET_GVR }, data: [] }), /interchange_format_version: must be "5"/],
  ["bad public key", interchange([{ pubkey: "0x1234", signed_blocks: [] }]), /data\[0\]\.pubkey/],
  ["slot out of range", interchange([{ pubkey: `0x${"a9".repeat(48)}`, signed_blocks: [{ slot: "18446744073709551616" }] }]), /slot: exceeds 2\^64-1/],
  ["negative epoch", interchange([{ pubkey: `0x${"a9".repeat(48)}`, signed_attestations: [{ source_epoch: "-1", target_epoch: "2" }] }]), /source_epoch: must be a decimal uint64/],
  ["another network", interchange([], `0x${"11".repeat(32)}`), /genesis validators root/],
])("a malformed file (%s) is refused with the reason and imports nothing", async (name, text, reason) => {
  const db = dbUrl("malformed");
  const path = join(work, `${name}.json`);
  writeFileSync(path, text);
  const { code, stderr } = await runCliToEnd(["slashing", "import", `--db=${db}`, path]);
  expect(code).toBe(1);
  expect(stderr).toMatch(reason);
  const after = await runCliToEnd(["slashing", "export", `--db=${db}`, "-"]);
  expect(JSON.parse(after.stdout).data).toEqual([]);
});

test("usage errors name what is missing", async () => {
  const noDb = await runCliToEnd(["slashing", "import", "/tmp/x.json"]);
  expect(noDb.code).toBe(2);
  expect(noDb.stderr).toMatch(/--db is required/);
  const noFile = await runCliToEnd(["slashing", "export", "--db=pglite:memory"]);
  expect(noFile.code).toBe(2);
  expect(noFile.stderr).toMatch(/expected <file>/);
  const noKeep = await runCliToEnd(["slashing", "prune", "--db=pglite:memory"]);
  expect(noKeep.code).toBe(2);
  expect(noKeep.stderr).toMatch(/--keep-epochs is required/);
});
