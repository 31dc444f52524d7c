// The undici dispatcher: requests to an aTLS server share one verified
// keep-alive connection; an impostor fails the request and receives nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { request } from "undici";
import { basicConstraintsExtension, buildCertificate, derToPem, encodeName } from "@strongroom/nitro";
import { ATTESTATION_PATH, AtlsVerificationError, createAtlsDispatcher, type AtlsVerifyOptions } from "../src/index.ts";
import { genuineSetup, helloListener, newKey, startAtlsServer, startImpostor, type Enclave, type World } from "./support.ts";

let world: World;
let enclave: Enclave;
let options: AtlsVerifyOptions;

beforeAll(async () => ({ world, enclave, options } = await genuineSetup()));
afterAll(() => world.cleanup());

describe("createAtlsDispatcher", () => {
  it.each([false, true])("sends several requests over one verified keep-alive connection (fresh: %s)", async (fresh) => {
    let attestations = 0;
    const hello = helloListener(enclave.nsm);
    const server = await startAtlsServer({
      nsm: enclave.nsm,
      requestListener: (req, res) => {
        if (req.url === ATTESTATION_PATH) attestations++;
        hello(req, res);
      },
    });
    // One connection per origin, so that undici queues on it rather than open another while the last response is settling.
    const dispatcher = createAtlsDispatcher({ ...options, fresh, connections: 1 });
    try {
      for (let n = 0; n < 5; n++) {
        const response = await request(`https://127.0.0.1:${server.port}/request/${n}`, { dispatcher });
        expect([response.statusCode, await response.body.text()]).toEqual([200, `hello /request/${n}`]);
      }
      expect(server.handshakes()).toBe(1);
      expect(attestations).toBe(fresh ? 1 : 0);
    } finally {
      await dispatcher.close();
      await server.close();
    }
  });

  it("fails the request cleanly for an impostor, which receives no application byte", async () => {
    const { privateKey, publicKey } = newKey();
    const name = encodeName([["CN", "localhost"]]);
    const now = Date.now();
    const der = buildCertificate({ serialNumber: Uint8Array.of(3), issuer: name, subject: name, notBefore: new Date(now - 3600_000), notAfter: new Date(now + 3600_000), publicKey, extensions: [basicConstraintsExtension(false)] }, privateKey);
    const impostor = await startImpostor(privateKey, derToPem(der));
    const dispatcher = createAtlsDispatcher(options);
    try {
      const error = await request(`https://127.0.0.1:${impostor.port}/eth/v1/keystores`, { method: "POST", body: "{}", dispatcher }).then(
        () => new Error("accepted"),
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(AtlsVerificationError);
      expect((error as AtlsVerificationError).reason).toBe("no-attestation");
      await impostor.idle();
      expect(impostor.applicationBytes()).toBe(0);
    } finally {
      await dispatcher.close();
      await impostor.close();
    }
  });

  it("serves https: only", async () => {
    const dispatcher = createAtlsDispatcher(options);
    try {
      await expect(request("http://127.0.0.1:1/", { dispatcher })).rejects.toThrow(/aTLS serves https: URLs only, not http:/);
    } finally {
      await dispatcher.close();
    }
  });

  it("checks its options when made", () => {
    expect(() => createAtlsDispatcher({ pcrPolicy: { kind: "manifest", sets: [] } })).toThrow(/no enclave could match/);
  });
});
