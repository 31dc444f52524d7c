// The signer serving attested TLS with the NSM simulator, reached through
// `strongroom gateway` as a validator client reaches it: plain HTTP on
// loopback, tokens as Bearer or Basic, answers passed back unchanged. Then
// fresh attestation, certificate rotation under load, several upstreams,
// and re-pinning after a deliberate upgrade.
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { Pool, request } from "undici";
import { createAtlsDispatcher, createAtlsServer, readPcrManifest } from "@strongroom/atls";
import { loadOrCreateSimulatedCa } from "@strongroom/nitro";
import type { RunningSigner } from "@strongroom/enclave";
import { startTestSigner } from "../enclave/test/harness.ts";
import { GENUINE_IMAGE, manifestFor, OTHER_IMAGE, simulatedNsm, simulatorDirectory } from "./support/atls-impostor.ts";
import { runCliToEnd, startCli, type CliProcess } from "./support/cli-process.ts";
import { curl, logLines, startGateway, type RunningGateway } from "./support/gateway.ts";
import { interopKeyConfigDir } from "./support/interop-key-files.ts";
import { randaoRequest } from "./support/mainnet-requests.ts";

const RANDAO = JSON.stringify(randaoRequest(370_000n));
const JSON_HEADERS = ["-H", "content-type: application/json", "-H", "accept: application/json"];
const portOf = (url: string) => new URL(url).port;

describe("a validator client signs through the gateway with a signer serving aTLS from the NSM simulator", () => {
  const dir = mkdtempSync(join(tmpdir(), "strongroom-atls-e2e-"));
  const { dir: keyDir, publicKeys } = interopKeyConfigDir(2);
  const manifest = join(dir, "pcrs.json");
  let signer: CliProcess;
  let signerUrl: string;
  let root: string;
  let gateway: RunningGateway;
  let adminToken: string;
  let vcToken: string;

  beforeAll(async () => {
    signer = startCli([
      "signer",
      "--http-port=0",
      "--slashing-protection-in-memory",
      `--key-config-path=${keyDir}`,
      `--atls-simulator-dir=${join(dir, "sim")}`,
      `--auth-bootstrap-token-file=${join(dir, "admin-token")}`,
    ]);
    await signer.waitForOutput(/"msg":"signer listening"[^\n]*\n/);
    const started = logLines(signer.stdout(), "signer listening")[0]!;
    await signer.waitForOutput(/key loading finished/);
    signerUrl = started["url"] as string;
    const atls = started["atls"] as { root: string; pcrs: Record<string, string> };
    root = atls.root;
    // What an operator does with the start-up line: the PCRs are the manifest, the root is trusted explicitly.
    writeFileSync(manifest, JSON.stringify(atls.pcrs));
    gateway = await startGateway([`--upstream=127.0.0.1:${portOf(signerUrl)}`, `--pcrs=${manifest}`, `--root=${root}`]);

    adminToken = readFileSync(join(dir, "admin-token"), "utf8").trim();
    // The operator command manages the signer through the gateway like any other client.
    const policy = join(dir, "vc.json");
    writeFileSync(policy, JSON.stringify({ name: "vc", rules: [{ effect: "allow", scopes: ["sign", "public_keys"], keys: "*", operations: "*", cidrs: "*" }] }));
    const env = { STRONGROOM_OPERATOR_TOKEN: adminToken };
    expect((await runCliToEnd(["operator", "policies", "create", policy, `--url=${gateway.url}`], env)).code).toBe(0);
    const created = await runCliToEnd(["operator", "tokens", "create", "--name=vc", "--policies=vc", `--url=${gateway.url}`], env);
    expect(created.code).toBe(0);
    vcToken = (JSON.parse(created.stdout) as { token: string }).token;
  });
  afterAll(async () => {
    await gateway?.cli.stop();
    await signer?.stop();
  });

  test("the signer serves https, and its start-up line names the simulator's root and the PCRs to pin", () => {
    expect(signerUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(root).toBe(loadOrCreateSimulatedCa(join(dir, "sim")).rootCertificatePath);
    expect(Object.keys(JSON.parse(readFileSync(manifest, "utf8")) as object)).toEqual(["PCR0", "PCR1", "PCR2"]);
  });

  test("signs with a Bearer token, and the signature is the one the signer gives over aTLS directly", async () => {
    const answer = await curl([...JSON_HEADERS, "-H", `Authorization: Bearer ${vcToken}`, "-d", RANDAO, `${gateway.url}/api/v1/eth2/sign/${publicKeys[0]}`]);
    expect(answer.status).toBe(200);
    expect(answer.headers["content-type"]).toBe("application/json");
    const { signature } = JSON.parse(answer.body) as { signature: string };

    const dispatcher = createAtlsDispatcher({ pcrPolicy: { kind: "manifest", sets: readPcrManifest(manifest) }, root: readFileSync(root, "latin1") });
    const direct = await request(`${signerUrl}/api/v1/eth2/sign/${publicKeys[0]}`, {
      method: "POST",
      headers: { authorization: `Bearer ${vcToken}`, "content-type": "application/json", accept: "application/json" },
      body: RANDAO,
      dispatcher,
    });
    expect(direct.statusCode).toBe(200);
    expect(await direct.body.json()).toEqual({ signature });
    await dispatcher.close();
  });

  test("signs with the token as HTTP Basic (curl -u), as clients that only take URL credentials send it; text/plain when asked", async () => {
    const answer = await curl(["-H", "content-type: application/json", "-H", "accept: text/plain", "-u", `validator:${vcToken}`, "-d", RANDAO, `${gateway.url}/api/v1/eth2/sign/${publicKeys[1]}`]);
    expect(answer.status).toBe(200);
    expect(answer.headers["content-type"]).toMatch(/^text\/plain/);
    expect(answer.body).toMatch(/^0x[0-9a-f]{192}$/);
  });

  test("lists the public keys the token may use", async () => {
    const answer = await curl(["-H", `Authorization: Bearer ${vcToken}`, `${gateway.url}/api/v1/eth2/publicKeys`]);
    expect(answer.status).toBe(200);
    expect((JSON.parse(answer.body) as string[]).sort()).toEqual([...publicKeys].sort());
  });

  test("a wrong token gets the signer's own 401 through the gateway", async () => {
    const wrong = `sr_${"A".repeat(43)}`;
    const answer = await curl([...JSON_HEADERS, "-H", `Authorization: Bearer ${wrong}`, "-d", RANDAO, `${gateway.url}/api/v1/eth2/sign/${publicKeys[0]}`]);
    expect(answer.status).toBe(401);
    expect(answer.headers["www-authenticate"]).toMatch(/^Bearer/);
    expect(JSON.parse(answer.body)).toEqual({ message: expect.stringMatching(/token/) });
  });

  test("the gateway logs each verification and each request, and never a token", async () => {
    // A request's line is written when its response finishes, which can be just after curl has its answer.
    await gateway.cli.waitForOutput(/"status":401[^\n]*"msg":"request"/);
    const out = gateway.cli.stdout() + gateway.cli.stderr();
    const verified = logLines(gateway.cli.stdout(), "upstream verified");
    expect(verified.length).toBeGreaterThan(0);
    expect(verified[0]).toMatchObject({ upstream: `127.0.0.1:${portOf(signerUrl)}`, pcr0: JSON.parse(readFileSync(manifest, "utf8")).PCR0 });
    const requests = logLines(gateway.cli.stdout(), "request");
    expect(requests).toContainEqual(expect.objectContaining({ method: "POST", path: `/api/v1/eth2/sign/${publicKeys[0]}`, status: 200, upstream: `127.0.0.1:${portOf(signerUrl)}` }));
    expect(requests).toContainEqual(expect.objectContaining({ status: 401 }));
    for (const token of [vcToken, adminToken]) {
      expect(out).not.toContain(token);
      expect(out).not.toContain(Buffer.from(`validator:${token}`).toString("base64"));
    }
  });

  test("with --fresh, each connection also gets a fresh, channel-bound document, and signing works", async () => {
    const fresh = await startGateway([`--upstream=127.0.0.1:${portOf(signerUrl)}`, `--pcrs=${manifest}`, `--root=${root}`, "--fresh"]);
    try {
      const answer = await curl([...JSON_HEADERS, "-H", `Authorization: Bearer ${vcToken}`, "-d", RANDAO, `${fresh.url}/api/v1/eth2/sign/${publicKeys[0]}`]);
      expect(answer.status).toBe(200);
      expect(logLines(fresh.cli.stdout(), "upstream verified")[0]).toMatchObject({ fresh: true });
    } finally {
      await fresh.cli.stop();
    }
  });
});

describe("gateway and in-process signers of a test image", () => {
  const dir = mkdtempSync(join(tmpdir(), "strongroom-atls-gw-"));
  let simDir: string;
  let root: string;
  let manifest: string;
  const signers: RunningSigner[] = [];

  beforeAll(async () => {
    simDir = simulatorDirectory();
    root = loadOrCreateSimulatedCa(simDir).rootCertificatePath;
    manifest = join(dir, "pcrs.json");
    writeFileSync(manifest, await manifestFor(GENUINE_IMAGE));
  });
  afterAll(() => Promise.all(signers.map((signer) => signer.close())));

  async function signer(options: { image?: typeof GENUINE_IMAGE; rotateEveryMs?: number; port?: number } = {}): Promise<RunningSigner> {
    const started = await startTestSigner({
      ...(options.port !== undefined && { listen: { host: "127.0.0.1", port: options.port } }),
      atls: { nsm: await simulatedNsm({ simDir, image: options.image ?? GENUINE_IMAGE }), subjectAltNames: ["localhost"], ...(options.rotateEveryMs !== undefined && { rotateEveryMs: options.rotateEveryMs }) },
    });
    signers.push(started);
    return started;
  }

  /** Interop key 0, which every test signer holds; no token needed from loopback (the harness's policy). */
  const KEY = "0xa99a76ed7796f7be22d5b7e85deeb7c5677e88e511e0b337618f8c4eb61349b4bf2d153f649f7b53359fe8b94a38e44c";
  const sign = (gatewayUrl: string) => curl([...JSON_HEADERS, "-d", RANDAO, `${gatewayUrl}/api/v1/eth2/sign/${KEY}`]);

  test("requests and answers pass both ways unchanged but for hop-by-hop headers", async () => {
    let seen: { method?: string; url?: string; rawHeaders: string[]; body: Buffer } | undefined;
    const echo = await createAtlsServer({
      nsm: await simulatedNsm({ simDir }),
      subjectAltNames: ["localhost"],
      requestListener(req, res) {
        const chunks: Buffer[] = [];
        req.on("data", (chunk: Buffer) => chunks.push(chunk)).on("end", () => {
          if (req.url === "/upcheck") return void res.end("OK");
          seen = { method: req.method, url: req.url, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks) };
          res.writeHead(207, ["X-Answer", "one", "Set-Cookie", "a=1", "Set-Cookie", "b=2", "Connection", "keep-alive, X-Answer-Hop", "X-Answer-Hop", "drop", "Content-Type", "text/plain; charset=utf-8"]);
          res.end("answer body ✓");
        });
      },
    });
    await new Promise<void>((resolve) => echo.server.listen(0, "127.0.0.1", resolve));
    const gateway = await startGateway([`--upstream=127.0.0.1:${(echo.server.address() as AddressInfo).port}`, `--pcrs=${manifest}`, `--root=${root}`]);
    const body = randomBytes(3000);
    writeFileSync(join(dir, "body.bin"), body);
    try {
      // A repeated header, credentials, a header the client marks hop-by-hop (Connection: X-Hop), and TE, which is hop-by-hop itself.
      const headers = ["X-One: 1", "X-One: 2", "Connection: X-Hop", "X-Hop: drop me", "TE: trailers", "content-type: application/octet-stream"];
      const answer = await curl(["-X", "PUT", "-u", "validator:sr_not-a-real-token", ...headers.flatMap((header) => ["-H", header]), "--data-binary", `@${join(dir, "body.bin")}`, `${gateway.url}/echo/path?x=1&y=%20z`]);
      expect(seen).toBeDefined();
      const { method, url, rawHeaders, body: received } = seen!;
      expect([method, url]).toEqual(["PUT", "/echo/path?x=1&y=%20z"]);
      expect(received.equals(body)).toBe(true);
      const pairs = rawHeaders.flatMap((value, i) => (i % 2 === 0 ? [[value.toLowerCase(), rawHeaders[i + 1]!]] : []));
      expect(pairs.filter(([name]) => name === "x-one")).toEqual([["x-one", "1"], ["x-one", "2"]]);
      expect(pairs).toContainEqual(["authorization", `Basic ${Buffer.from("validator:sr_not-a-real-token").toString("base64")}`]);
      expect(pairs.map(([name]) => name)).not.toContain("x-hop");
      expect(pairs.map(([name]) => name)).not.toContain("te");

      expect(answer.status).toBe(207);
      expect(answer.body).toBe("answer body ✓");
      expect(answer.rawHeaders.filter(([name]) => name.toLowerCase() === "set-cookie").map(([, value]) => value)).toEqual(["a=1", "b=2"]);
      expect(answer.headers["x-answer"]).toBe("one");
      expect(answer.headers["x-answer-hop"]).toBeUndefined();
    } finally {
      await gateway.cli.stop();
      echo.stop();
      echo.server.close();
    }
  });

  test("certificate rotation under load loses no request", async () => {
    const rotating = await signer({ rotateEveryMs: 150 });
    const port = Number(portOf(rotating.url));
    const gateway = await startGateway([`--upstream=127.0.0.1:${port}`, `--pcrs=${manifest}`, `--root=${root}`, "--connections=64"]);
    const client = new Pool(gateway.url, { connections: 64 });
    const statuses = new Map<number, number>();
    let stopping = false;
    const workers: Promise<void>[] = [];
    const addWorker = () =>
      workers.push(
        (async () => {
          while (!stopping) {
            const { statusCode, body } = await client.request({ method: "POST", path: `/api/v1/eth2/sign/${KEY}`, headers: { "content-type": "application/json" }, body: RANDAO });
            await body.dump();
            statuses.set(statusCode, (statuses.get(statusCode) ?? 0) + 1);
          }
        })(),
      );
    // The certificate the signer serves now, read by a TLS handshake that sends nothing.
    const servedCertificate = () =>
      new Promise<string>((resolve, reject) => {
        const socket = tlsConnect({ host: "127.0.0.1", port, rejectUnauthorized: false, minVersion: "TLSv1.3" }, () => {
          resolve(socket.getPeerX509Certificate()!.fingerprint256);
          socket.destroy();
        }).once("error", reject);
      });
    const gatewayVerified = () => new Set(logLines(gateway.cli.stdout(), "upstream verified").map((line) => line["fingerprint"]));

    try {
      // Each time the signer has rotated, one more client joins, so the gateway opens new aTLS
      // connections to certificates the earlier ones never saw, while the others keep signing.
      const served = new Set([await servedCertificate()]);
      addWorker();
      while ((served.size < 5 || gatewayVerified().size < 3) && workers.length < 40) {
        const current = await servedCertificate();
        if (!served.has(current)) {
          served.add(current);
          addWorker();
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      stopping = true;
      await Promise.all(workers);
      expect(served.size).toBeGreaterThanOrEqual(5);
      expect(gatewayVerified().size).toBeGreaterThanOrEqual(3);
      expect([...statuses.keys()]).toEqual([200]);
      expect(statuses.get(200)).toBeGreaterThan(workers.length);
    } finally {
      stopping = true;
      await client.close();
      await gateway.cli.stop();
    }
  });

  test("several upstreams of one image: round-robin over the healthy ones, a failed one skipped until it recovers", async () => {
    const first = await signer();
    const second = await signer();
    const [a, b] = [`127.0.0.1:${portOf(first.url)}`, `127.0.0.1:${portOf(second.url)}`];
    const gateway = await startGateway([`--upstream=${a}`, `--upstream=${b}`, `--pcrs=${manifest}`, `--root=${root}`, "--health-interval-seconds=1", "--metrics-port=0"]);
    const metricsUrl = (await gateway.cli.waitForOutput(/"metrics":"(http:\/\/[^"]+)"/))[1]!;
    const servedBy = async (count: number) => {
      const before = logLines(gateway.cli.stdout(), "request").length;
      for (let i = 0; i < count; i++) expect((await sign(gateway.url)).status).toBe(200);
      // Each line is written as its response finishes, which can be just after the client has the answer.
      await vi.waitFor(() => expect(logLines(gateway.cli.stdout(), "request").length).toBe(before + count));
      return logLines(gateway.cli.stdout(), "request")
        .slice(before)
        .map((line) => line["upstream"]);
    };
    try {
      const both = await servedBy(6);
      expect(both.filter((name) => name === a)).toHaveLength(3);
      expect(both.filter((name) => name === b)).toHaveLength(3);

      // The first signer goes away: no request is lost, the second takes them all.
      await first.close();
      expect(new Set(await servedBy(6))).toEqual(new Set([b]));
      expect(logLines(gateway.cli.stdout(), "upstream unhealthy: healthy upstreams take its requests until it answers GET /upcheck again")).toContainEqual(
        expect.objectContaining({ upstream: a }),
      );

      // It comes back on the same port: the next health check finds it, and it takes its turns again.
      await signer({ port: Number(portOf(first.url)) });
      await gateway.cli.waitForOutput(new RegExp(`"upstream":"${a}"[^\\n]*"msg":"upstream healthy again"`));
      expect(new Set(await servedBy(4))).toEqual(new Set([a, b]));

      const metrics = await (await fetch(metricsUrl)).text();
      expect(metrics).toMatch(new RegExp(`strongroom_gateway_verifications_total\\{upstream="${a}",outcome="verified"\\} [1-9]`));
      expect(metrics).toMatch(new RegExp(`strongroom_gateway_verifications_total\\{upstream="${a}",outcome="error"\\} [1-9]`));
      expect(metrics).toMatch(new RegExp(`strongroom_gateway_requests_total\\{upstream="${b}",status="200"\\} [1-9]`));
      expect(metrics).toMatch(new RegExp(`strongroom_gateway_upstream_healthy\\{upstream="${a}"\\} 1`));
    } finally {
      await gateway.cli.stop();
    }
  });

  test("trust on first use: a new image is refused until `strongroom gateway pin --reset` clears the pin", async () => {
    const pinFile = join(dir, "signer.pins");
    const genuine = await signer();
    const upgraded = await signer({ image: OTHER_IMAGE });
    const through = async (target: RunningSigner) => {
      const gateway = await startGateway([`--upstream=127.0.0.1:${portOf(target.url)}`, `--tofu=${pinFile}`, `--root=${root}`]);
      try {
        return { answer: await sign(gateway.url), stdout: gateway.cli.stdout() };
      } finally {
        await gateway.cli.stop();
      }
    };

    const pinned = await through(genuine);
    expect(pinned.answer.status).toBe(200);
    expect(logLines(pinned.stdout, "upstream verified")).toContainEqual(expect.objectContaining({ pinned: "recorded" }));
    expect(existsSync(pinFile)).toBe(true);

    const refused = await through(upgraded);
    expect(refused.answer.status).toBe(502);
    expect(JSON.parse(refused.answer.body).message).toMatch(/failed attestation \(pin-mismatch\)/);

    const reset = await runCliToEnd(["gateway", "pin", "--reset", `--tofu=${pinFile}`]);
    expect(reset.code).toBe(0);
    expect(existsSync(pinFile)).toBe(false);

    const repinned = await through(upgraded);
    expect(repinned.answer.status).toBe(200);
    expect(logLines(repinned.stdout, "upstream verified")).toContainEqual(expect.objectContaining({ pinned: "recorded" }));
    expect(readFileSync(pinFile, "utf8")).toContain(JSON.parse(await manifestFor(OTHER_IMAGE)).PCR0);
  });
});
