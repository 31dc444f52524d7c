// The gateway refuses every server that is not the expected enclave, says
// why (502 and the reason, in the answer and in its log), and writes not one
// byte of the request to it: each impostor records all application data it
// receives after the handshake. The gateway trusts one image (a PCR manifest,
// or a pin) under one simulator root; each impostor breaks one rule.
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSecureContext } from "node:tls";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { loadOrCreateSimulatedCa } from "@strongroom/nitro";
import type { RunningSigner } from "@strongroom/enclave";
import { startTestSigner } from "../enclave/test/harness.ts";
import {
  attestedCredentials,
  credentialsCarrying,
  documentBindingAnotherKey,
  documentOf,
  GENUINE_IMAGE,
  manifestFor,
  OTHER_IMAGE,
  selfSignedCredentials,
  simulatedNsm,
  simulatorDirectory,
  startRecordingServer,
  type Credentials,
} from "./support/atls-impostor.ts";
import { curl, logLines, startGateway } from "./support/gateway.ts";
import { randaoRequest } from "./support/mainnet-requests.ts";

const HOUR = 3_600_000;
const REFUSED = "upstream refused: its attestation failed verification; nothing was sent to it";
/** Interop key 0, which the genuine test signer holds. */
const KEY = "0xa99a76ed7796f7be22d5b7e85deeb7c5677e88e511e0b337618f8c4eb61349b4bf2d153f649f7b53359fe8b94a38e44c";

let dir: string;
let simDir: string;
let root: string;
let manifest: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "strongroom-impostors-"));
  simDir = simulatorDirectory();
  root = loadOrCreateSimulatedCa(simDir).rootCertificatePath;
  manifest = join(dir, "genuine-pcrs.json");
  writeFileSync(manifest, await manifestFor(GENUINE_IMAGE));
});

function signThrough(gatewayUrl: string) {
  return curl(["-H", "content-type: application/json", "-H", "accept: application/json", "-d", JSON.stringify(randaoRequest(370_000n)), `${gatewayUrl}/api/v1/eth2/sign/${KEY}`]);
}

/**
 * Serves `credentials` from a recording server, puts a gateway that trusts
 * the genuine image (or `policy`) in front of it, signs through the gateway
 * and checks the refusal: 502 naming `failure`, the same in the log, and not
 * a byte received. Returns the refusal message.
 */
async function expectRefused(credentials: Credentials, failure: string, policy: readonly string[] = [`--pcrs=${manifest}`]): Promise<string> {
  const impostor = await startRecordingServer(credentials);
  const gateway = await startGateway([`--upstream=127.0.0.1:${impostor.port}`, `--root=${root}`, ...policy]);
  let answer;
  try {
    answer = await signThrough(gateway.url);
  } finally {
    await gateway.cli.stop();
  }
  await impostor.drained();
  await impostor.close();

  expect(answer.status).toBe(502);
  const { message } = JSON.parse(answer.body) as { message: string };
  expect(message).toContain(`127.0.0.1:${impostor.port} failed attestation (${failure})`);
  const refusals = logLines(gateway.cli.stdout(), REFUSED);
  expect(refusals.length).toBeGreaterThan(0);
  expect(refusals.every((line) => line["failure"] === failure)).toBe(true);
  expect(impostor.connections()).toBeGreaterThan(0);
  expect(impostor.receivedBytes()).toBe(0);
  return message;
}

describe("the gateway refuses an impostor, says why, and sends it nothing", () => {
  test("a plain self-signed certificate", async () => {
    const message = await expectRefused(selfSignedCredentials(), "no-attestation");
    expect(message).toMatch(/carries no attestation document/);
  });

  test("a valid document from a different image (the manifest lists the genuine image's PCRs)", async () => {
    const message = await expectRefused(await attestedCredentials({ simDir, image: OTHER_IMAGE }), "pcr-mismatch");
    expect(message).toMatch(/PCR/);
  });

  test("a replayed certificate and document: the genuine certificate cannot be served without its key, and a copy of its document in another key's certificate is refused", async () => {
    const genuine = await attestedCredentials({ simDir });
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-384" });
    expect(() => createSecureContext({ cert: genuine.cert, key: privateKey.export({ type: "pkcs8", format: "pem" }) })).toThrow(/key values mismatch/);
    await expectRefused(credentialsCarrying(documentOf(genuine.certificate)), "key-binding");
  });

  test("a genuine-image document whose user_data binds another key", async () => {
    await expectRefused(credentialsCarrying(await documentBindingAnotherKey({ simDir })), "key-binding");
  });

  test("an expired document (the NSM's clock four hours behind: the document is older than the maximum age, its chain expired)", async () => {
    const message = await expectRefused(await attestedCredentials({ simDir, now: () => new Date(Date.now() - 4 * HOUR) }), "expired");
    expect(message).toMatch(/expired/);
  });

  test("a document under a different root (another simulator directory)", async () => {
    await expectRefused(await attestedCredentials({ simDir: simulatorDirectory() }), "untrusted-root");
  });

  test("a debug-mode document without --allow-debug", async () => {
    await expectRefused(await attestedCredentials({ simDir, debug: true }), "debug-enclave");
  });

  test("a trust-on-first-use pin mismatch: pin one image, then meet another with the same pin file", async () => {
    const pinFile = join(dir, "tofu-mismatch.pins");
    const first = await startRecordingServer(await attestedCredentials({ simDir }));
    const pinning = await startGateway([`--upstream=127.0.0.1:${first.port}`, `--root=${root}`, `--tofu=${pinFile}`]);
    await pinning.cli.waitForOutput(/"pinned":"recorded"[^\n]*"msg":"upstream verified"/);
    await pinning.cli.stop();
    await first.close();

    const message = await expectRefused(await attestedCredentials({ simDir, image: OTHER_IMAGE }), "pin-mismatch", [`--tofu=${pinFile}`]);
    expect(message).toContain("strongroom gateway pin --reset");
  });
});

describe("with the same settings, the genuine image is trusted", () => {
  let signer: RunningSigner;
  afterAll(() => signer?.close());

  test("the gateway forwards to a signer of the genuine image under the same root", async () => {
    signer = await startTestSigner({ atls: { nsm: await simulatedNsm({ simDir }), subjectAltNames: ["localhost"] } });
    const gateway = await startGateway([`--upstream=127.0.0.1:${new URL(signer.url).port}`, `--root=${root}`, `--pcrs=${manifest}`]);
    try {
      const answer = await signThrough(gateway.url);
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body)).toEqual({ signature: expect.stringMatching(/^0x[0-9a-f]{192}$/) });
    } finally {
      await gateway.cli.stop();
    }
  });
});
