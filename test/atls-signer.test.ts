// The signer's transports: the same API over plain HTTP, ordinary TLS
// (--tls-key-file/--tls-cert-file) and attested TLS, where the open
// attestation route answers fresh-attestation requests (404 elsewhere).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { afterAll, describe, expect, test } from "vitest";
import { request } from "undici";
import { ATTESTATION_PATH, connectAtls } from "@strongroom/atls";
import { loadOrCreateSimulatedCa } from "@strongroom/nitro";
import type { RunningSigner } from "@strongroom/enclave";
import { openTestAuth, startTestSigner } from "../enclave/test/harness.ts";
import { simulatedNsm, simulatorDirectory } from "./support/atls-impostor.ts";
import { runCliToEnd, startCli } from "./support/cli-process.ts";
import { curl } from "./support/gateway.ts";

describe("the attestation route", () => {
  const signers: RunningSigner[] = [];
  afterAll(() => Promise.all(signers.map((signer) => signer.close())));

  test("does not exist without attested TLS", async () => {
    const signer = await startTestSigner();
    signers.push(signer);
    expect(signer.url).toMatch(/^http:/);
    const answer = await request(`${signer.url}${ATTESTATION_PATH}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ nonce: `0x${"11".repeat(32)}` }) });
    expect(answer.statusCode).toBe(404);
    await answer.body.dump();
  });

  test("over attested TLS it needs no token and gives a fresh document bound to the session", async () => {
    const simDir = simulatorDirectory();
    // No unauthenticated policy: every other route needs a token.
    const signer = await startTestSigner({ auth: openTestAuth(null), atls: { nsm: await simulatedNsm({ simDir }), subjectAltNames: ["localhost"] } });
    signers.push(signer);
    expect(signer.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const { socket, peer } = await connectAtls({
      host: "127.0.0.1",
      port: Number(new URL(signer.url).port),
      fresh: true,
      pcrPolicy: { kind: "tofu", pinFile: join(mkdtempSync(join(tmpdir(), "strongroom-pins-")), "pins") },
      root: loadOrCreateSimulatedCa(simDir).rootCertificate,
    });
    expect(peer.pinned).toBe("recorded");
    socket.destroy();
  });
});

describe("ordinary TLS for standard mode", () => {
  const dir = mkdtempSync(join(tmpdir(), "strongroom-tls-"));
  const key = join(dir, "key.pem");
  const cert = join(dir, "cert.pem");
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1"], { stdio: "ignore" });

  test("--tls-key-file and --tls-cert-file serve the API over https (TLS 1.2 and 1.3)", async () => {
    const signer = startCli(["signer", "--http-port=0", "--slashing-protection-in-memory", `--tls-key-file=${key}`, `--tls-cert-file=${cert}`]);
    try {
      const url = (await signer.waitForOutput(/"url":"(https:\/\/[^"]+)"/))[1]!;
      const answer = await curl(["--cacert", cert, `${url}/upcheck`]);
      expect(answer.status).toBe(200);
      const port = Number(new URL(url).port);
      const protocol = await new Promise<string | null>((resolve, reject) => {
        const socket = tlsConnect({ host: "127.0.0.1", port, ca: readFileSync(cert), maxVersion: "TLSv1.2" }, () => {
          resolve(socket.getProtocol());
          socket.destroy();
        }).once("error", reject);
      });
      expect(protocol).toBe("TLSv1.2");
    } finally {
      await signer.stop();
    }
  });

  test("a key that is not the certificate's stops the signer with a message naming both files (exit 1)", async () => {
    const otherKey = join(dir, "other-key.pem");
    writeFileSync(otherKey, execFileSync("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]));
    const { code, stderr } = await runCliToEnd(["signer", "--http-port=0", "--slashing-protection-in-memory", `--tls-key-file=${otherKey}`, `--tls-cert-file=${cert}`]);
    expect(code).toBe(1);
    expect(stderr).toContain(`cannot serve TLS with the key ${otherKey} and the certificate ${cert}`);
  });
});
