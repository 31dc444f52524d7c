// Stop the slashing database under load: no block or attestation may be signed
// while it is down, other types still sign, health turns DOWN, and everything
// recovers by itself when the database returns. No process crashes.
import { afterAll, expect, test } from "vitest";
import { startCli, type CliProcess } from "./support/cli-process.ts";
import { interopKeyConfigDir } from "./support/interop-key-files.ts";
import { attestationRequest, blockRequest, randaoRequest } from "./support/mainnet-requests.ts";
import { startPostgresServer } from "./support/postgres-server.ts";

let signer: CliProcess | undefined;
let server: Awaited<ReturnType<typeof startPostgresServer>> | undefined;
afterAll(async () => {
  await signer?.stop();
  await server?.dispose();
});

test("a stopped PostgreSQL means 503 for blocks and attestations, and signing resumes after it restarts", async () => {
  server = await startPostgresServer();
  const dbUrl = await server.createDatabase("failclosed");
  const keys = interopKeyConfigDir(2);
  signer = startCli(["signer", "--auth-unauthenticated-policy=loopback", "--http-port=0", `--key-config-path=${keys.dir}`, `--slashing-protection-db-url=${dbUrl}`, "--slashing-protection-db-timeout-ms=500"]);
  const url = (await signer.waitForOutput(/"url":"(http:\/\/[^"]+)"/))[1]!;
  const sign = async (body: Record<string, unknown>, key = keys.publicKeys[0]!) => {
    const res = await fetch(`${url}/api/v1/eth2/sign/${key}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    return { status: res.status, text: await res.text() };
  };
  const health = async () => (await fetch(`${url}/healthcheck`)).status;

  // Load before the outage: attestations with rising targets sign.
  let epoch = 370_000n;
  for (let i = 0; i < 20; i++, epoch++) expect((await sign(attestationRequest(epoch - 1n, epoch, 1))).status).toBe(200);
  expect(await health()).toBe(200);

  // Load keeps flowing while the server stops.
  let stopping = true;
  const during: { status: number; whileDown: boolean }[] = [];
  let down = false;
  const load = (async () => {
    for (let target = 380_000n; stopping; target++) {
      const whileDown = down;
      const { status } = await sign(attestationRequest(target - 1n, target, 1), keys.publicKeys[1]!);
      during.push({ status, whileDown: whileDown && down });
    }
  })();
  await new Promise((r) => setTimeout(r, 200));
  await server.stop();
  down = true;

  for (let i = 0; i < 5; i++, epoch++) {
    const attestation = await sign(attestationRequest(epoch - 1n, epoch, 1));
    expect(attestation.status).toBe(503);
    expect(attestation.text).toMatch(/slashing protection is unavailable/);
    expect((await sign(blockRequest(epoch * 32n, 1))).status).toBe(503);
  }
  // Types without slashing data still sign.
  expect((await sign(randaoRequest(epoch))).status).toBe(200);
  expect(await health()).toBe(503);

  // The outage ends when the restart begins: the server accepts connections before restart() returns.
  down = false;
  await server.restart();
  // Recovery needs no operator: within a few probe intervals the same process signs again.
  let recovered = false;
  for (let i = 0; i < 100 && !recovered; i++, epoch++) {
    recovered = (await sign(attestationRequest(epoch - 1n, epoch, 1))).status === 200;
    if (!recovered) await new Promise((r) => setTimeout(r, 100));
  }
  expect(recovered).toBe(true);
  stopping = false;
  await load;
  expect(await health()).toBe(200);
  expect(during.filter((d) => d.whileDown && d.status === 200)).toEqual([]);
  expect(new Set(during.map((d) => d.status))).toEqual(new Set([200, 503]));
  expect(signer.child.exitCode).toBeNull();
});
