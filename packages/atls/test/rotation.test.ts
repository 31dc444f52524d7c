// Certificate rotation on a live server: connections opened before a
// rotation keep working, new ones get the new certificate, a stream of
// requests across several rotations loses none, and a failed rotation keeps
// the server serving.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { request } from "undici";
import { NsmClient, type NsmDevice } from "@strongroom/nitro";
import { connectAtls, createAtlsDispatcher, type AtlsIdentity, type AtlsVerifyOptions } from "../src/index.ts";
import { clientOn, genuineSetup, get, helloListener, spkiOf, startAtlsServer, type Enclave, type World } from "./support.ts";

let world: World;
let enclave: Enclave;
let options: AtlsVerifyOptions;

beforeAll(async () => ({ world, enclave, options } = await genuineSetup()));
afterAll(() => world.cleanup());

/** Resolves after the identity's next rotation (once the server has installed it). */
const nextRotation = (identity: AtlsIdentity) =>
  new Promise<void>((resolve) => {
    const stop = identity.onRotate(() => {
      stop();
      resolve();
    });
  });

describe("rotation", () => {
  it("leaves open connections working and gives new connections the new certificate", async () => {
    const server = await startAtlsServer({ nsm: enclave.nsm, requestListener: helloListener(enclave.nsm), rotateEveryMs: 250 });
    try {
      const before = await connectAtls({ host: "127.0.0.1", port: server.port, ...options });
      const client = clientOn(before.socket);
      expect(await get(client, "/before")).toEqual({ status: 200, body: "hello /before" });

      await nextRotation(server.identity);
      const after = await connectAtls({ host: "127.0.0.1", port: server.port, ...options });
      expect(spkiOf(after.peer.certificate)).not.toBe(spkiOf(before.peer.certificate));
      after.socket.destroy();

      // The connection made before the rotation still answers, with its old session.
      expect(await get(client, "/after")).toEqual({ status: 200, body: "hello /after" });
      expect(spkiOf(new Uint8Array(before.socket.getPeerCertificate().raw))).toBe(spkiOf(before.peer.certificate));
      await client.close();
    } finally {
      await server.close();
    }
  });

  it("loses no request of a load running across several rotations, on pooled and on new connections", async () => {
    const server = await startAtlsServer({ nsm: enclave.nsm, requestListener: helloListener(enclave.nsm), rotateEveryMs: 150 });
    const dispatcher = createAtlsDispatcher({ ...options, connections: 2 });
    let rotations = 0;
    const stopCounting = server.identity.onRotate(() => void rotations++);
    const failures: unknown[] = [];
    const certificates = new Set<string>();
    let answered = 0;
    const pooled = async () => {
      const response = await request(`https://127.0.0.1:${server.port}/pooled`, { dispatcher });
      expect([response.statusCode, await response.body.text()]).toEqual([200, "hello /pooled"]);
    };
    const fresh = async () => {
      const { socket, peer } = await connectAtls({ host: "127.0.0.1", port: server.port, ...options });
      certificates.add(spkiOf(peer.certificate));
      const client = clientOn(socket);
      try {
        expect(await get(client, "/new")).toEqual({ status: 200, body: "hello /new" });
      } finally {
        await client.close();
      }
    };
    const worker = async (job: () => Promise<void>) => {
      while (rotations < 3) {
        await job().then(
          () => void answered++,
          (error: unknown) => void failures.push(error),
        );
      }
    };
    try {
      await Promise.all([worker(pooled), worker(pooled), worker(pooled), worker(fresh), worker(fresh)]);
      expect(failures).toEqual([]);
      expect(certificates.size).toBeGreaterThanOrEqual(3);
      expect(answered).toBeGreaterThan(certificates.size);
    } finally {
      stopCounting();
      await dispatcher.close();
      await server.close();
    }
  });

  it("keeps serving its certificate when the NSM fails, reports it, and rotates once the NSM is back", async () => {
    let nsmDown = false;
    const device: NsmDevice = {
      request: (message) => (nsmDown ? Promise.reject(new Error("the NSM is unavailable")) : enclave.device.request(message)),
      close: () => {},
    };
    const failed: unknown[] = [];
    let reportFailure: () => void = () => {};
    const server = await startAtlsServer({
      nsm: new NsmClient(device),
      requestListener: helloListener(enclave.nsm),
      rotateEveryMs: 100,
      onRotationError: (error) => {
        failed.push(error);
        reportFailure();
      },
    });
    try {
      const first = server.identity.certificate;
      nsmDown = true;
      await new Promise<void>((resolve) => (reportFailure = resolve));
      expect(String(failed[0])).toMatch(/the NSM is unavailable/);
      expect(server.identity.certificate).toBe(first);
      const { socket, peer } = await connectAtls({ host: "127.0.0.1", port: server.port, ...options });
      socket.destroy();
      expect(spkiOf(peer.certificate)).toBe(spkiOf(first));

      nsmDown = false;
      await nextRotation(server.identity);
      expect(spkiOf(server.identity.certificate)).not.toBe(spkiOf(first));
    } finally {
      await server.close();
    }
  });

  it("refuses server options that would choose the key, certificate or TLS version", async () => {
    await expect(startAtlsServer({ nsm: enclave.nsm, requestListener: () => {}, serverOptions: { minVersion: "TLSv1.2", cert: "x" } })).rejects.toThrow(/must not set cert, minVersion/);
  });
});
