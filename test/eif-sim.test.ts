// The image's measurements end to end, on the simulator: `strongroom sim`
// builds its enclave's image as a real one is built (packages/eif, with
// placeholder blobs), `strongroom eif policy` derives the gateway's PCR
// manifest and the KMS key policy from that file, and the gateway and the
// KMS simulator then accept the enclave booted from it and refuse one whose
// bundle differs by one byte.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateKeyCommand, KMSClient, PutKeyPolicyCommand } from "@aws-sdk/client-kms";
import { buildEif, bundleEnclave, CHECKOUT_ROOT, keyAdministrationStatement, keyPolicy, readEif, type KeyPolicyStatement, type ParsedEif } from "@strongroom/eif";
import { blsPublicKey, interopSecretKey } from "@strongroom/keystore";
import { createAttestedKms } from "@strongroom/kms";
import { NsmClient, SIMULATED_ROLE_ARN, SimulatedNsm } from "@strongroom/nitro";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { readSimulatedImage, SIMULATED_BLOBS_DIR, SIMULATED_IMAGE_EPOCH, SIMULATED_IMAGE_FILE } from "../packages/cli/src/enclave-image.ts";
import { attestedCredentials, startRecordingServer } from "./support/atls-impostor.ts";
import { runCliToEnd } from "./support/cli-process.ts";
import { startGateway } from "./support/gateway.ts";
import { randaoRequest } from "./support/mainnet-requests.ts";
import { startSimulation, type RunningSimulation } from "./support/simulation.ts";

const KEY0 = `0x${Buffer.from(blsPublicKey(interopSecretKey(0), "interop")).toString("hex")}`;

let sim: RunningSimulation;
let kms: KMSClient;
let work: string;
let genuine: ParsedEif;
let changed: ParsedEif;
let manifestFile: string;
let keyArn: string;

const sectionsOf = (eif: ParsedEif) => ({ kernel: eif.kernel, cmdline: eif.cmdline, ramdisks: eif.ramdisks });
/** An enclave booted from `eif`, as the simulator boots one, under the simulation's attestation root. */
const nsmBooting = async (eif: ParsedEif) => new NsmClient(await SimulatedNsm.create({ simDir: sim.dir, image: sectionsOf(eif) }));

async function eifCli(...args: string[]): Promise<Record<string, unknown>> {
  const run = await runCliToEnd(["eif", ...args]);
  expect({ code: run.code, stderr: run.stderr }).toMatchObject({ code: 0 });
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

async function signThrough(gatewayUrl: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`${gatewayUrl}/api/v1/eth2/sign/${KEY0}`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify(randaoRequest(370_000n)),
  });
  return { status: response.status, body: await response.text() };
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "strongroom-eif-sim-"));
  sim = await startSimulation(["--demo-keys=1"]);
  kms = new KMSClient(await sim.awsClientConfig(sim.kms.url));
  genuine = readSimulatedImage(sim.dir);

  // The same build with one byte of the bundle changed: another image.
  const program = (await bundleEnclave(CHECKOUT_ROOT)).map((file) => {
    if (file.path !== "enclave.js") return file;
    const content = new Uint8Array(file.content);
    content[content.length - 1]! ^= 0x01;
    return { ...file, content };
  });
  const changedFile = join(work, "changed.eif");
  await buildEif({ blobsDir: join(sim.dir, SIMULATED_BLOBS_DIR), out: changedFile, sourceDateEpoch: SIMULATED_IMAGE_EPOCH, program });
  changed = readEif(readFileSync(changedFile));

  // What an operator does: a key for the vault, its policy and the gateway's manifest from the image file.
  keyArn = (await kms.send(new CreateKeyCommand({ Policy: keyPolicy([keyAdministrationStatement(SIMULATED_ROLE_ARN)]) }))).KeyMetadata!.Arn!;
  manifestFile = join(work, "pcrs.json");
  const derived = await eifCli("policy", join(sim.dir, SIMULATED_IMAGE_FILE), `--kms-key-arn=${keyArn}`, `--role-arn=${SIMULATED_ROLE_ARN}`, `--out-manifest=${manifestFile}`);
  const statements = derived["keyPolicyStatements"] as KeyPolicyStatement[];
  await kms.send(new PutKeyPolicyCommand({ KeyId: keyArn, Policy: keyPolicy([keyAdministrationStatement(SIMULATED_ROLE_ARN), ...statements]) }));
}, 180_000);

afterAll(async () => {
  kms?.destroy();
  await sim?.stop();
});

describe("an image's PCRs, from the file to the policies that pin it", () => {
  test("`eif pcr` on the simulator's image gives the PCRs the simulated enclave attests and the simulator pins; the changed bundle moves PCR0 and PCR2, not PCR1", async () => {
    const measured = await eifCli("pcr", join(sim.dir, SIMULATED_IMAGE_FILE));
    expect({ PCR0: measured["PCR0"], PCR1: measured["PCR1"], PCR2: measured["PCR2"] }).toEqual(JSON.parse(readFileSync(sim.pcrManifest, "utf8")));
    expect(genuine.pcrs).toMatchObject(JSON.parse(readFileSync(sim.pcrManifest, "utf8")));
    expect(changed.pcrs.PCR1).toBe(genuine.pcrs.PCR1);
    expect(changed.pcrs.PCR0).not.toBe(genuine.pcrs.PCR0);
    expect(changed.pcrs.PCR2).not.toBe(genuine.pcrs.PCR2);
    expect(JSON.parse(readFileSync(manifestFile, "utf8"))).toEqual([{ PCR0: genuine.pcrs.PCR0, PCR1: genuine.pcrs.PCR1, PCR2: genuine.pcrs.PCR2 }]);
  });

  test("the KMS simulator releases data keys under the derived policy to the image it names, and refuses the changed one", async () => {
    const attestedKms = (nsm: NsmClient) => createAttestedKms({ client: kms, attest: (publicKey) => nsm.attestation({ publicKey }) });
    const context = { purpose: "eif end-to-end test" };
    const fromGenuine = attestedKms(await nsmBooting(genuine));
    const dataKey = await fromGenuine.generateDataKey(keyArn, context);
    expect(dataKey.plaintext).toHaveLength(32);
    expect(Buffer.from(await fromGenuine.decrypt(dataKey.ciphertext, context, keyArn))).toEqual(Buffer.from(dataKey.plaintext));

    const fromChanged = attestedKms(await nsmBooting(changed));
    await expect(fromChanged.generateDataKey(keyArn, context)).rejects.toMatchObject({ name: "AccessDeniedException" });
    await expect(fromChanged.decrypt(dataKey.ciphertext, context, keyArn)).rejects.toMatchObject({ name: "AccessDeniedException" });
  });

  test("a gateway pinned to the derived manifest signs through the simulated enclave, and refuses an enclave booted from the changed image before sending it anything", async () => {
    const ingress = new URL(sim.ingressUrl);
    const pinned = await startGateway([`--upstream=127.0.0.1:${ingress.port}`, `--pcrs=${manifestFile}`, `--root=${sim.root}`]);
    try {
      const answer = await signThrough(pinned.url);
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body)).toEqual({ signature: expect.stringMatching(/^0x[0-9a-f]{192}$/) });
    } finally {
      await pinned.cli.stop();
    }

    const impostor = await startRecordingServer(await attestedCredentials({ simDir: sim.dir, image: sectionsOf(changed) }));
    const toImpostor = await startGateway([`--upstream=127.0.0.1:${impostor.port}`, `--pcrs=${manifestFile}`, `--root=${sim.root}`]);
    try {
      const refused = await signThrough(toImpostor.url);
      expect(refused.status).toBe(502);
      expect((JSON.parse(refused.body) as { message: string }).message).toMatch(/failed attestation \(pcr-mismatch\)/);
      await toImpostor.cli.stop();
      await impostor.drained();
      expect(impostor.connections()).toBeGreaterThan(0);
      expect(impostor.receivedBytes()).toBe(0);
    } finally {
      await toImpostor.cli.stop();
      await impostor.close();
    }
  });
});
