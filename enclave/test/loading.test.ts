import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { interopSecretKey, KeystoreDecryptPool } from "@strongroom/keystore";
import type { RunningSigner } from "@strongroom/enclave";
import { randaoBody, startTestSigner } from "./harness.ts";

const KEYSTORES = 4;
let signer: RunningSigner | undefined;
afterAll(() => signer?.close());

test("the API answers while keystores decrypt, and each key signs as soon as it is loaded", async () => {
  // Slow enough keystores (scrypt n=2^17, about 0.4 s each) decrypted on one thread, so loading visibly takes a while.
  const dir = mkdtempSync(join(tmpdir(), "strongroom-loading-"));
  const passwords = mkdtempSync(join(tmpdir(), "strongroom-loading-pw-"));
  const pool = new KeystoreDecryptPool(2);
  const password = new TextEncoder().encode("loading-test");
  await Promise.all(
    Array.from({ length: KEYSTORES }, async (_, i) => {
      const keystore = await pool.encrypt(interopSecretKey(10 + i), password, { kdf: { function: "scrypt", n: 1 << 17, r: 8, p: 1 } });
      writeFileSync(join(dir, `key${i}.json`), JSON.stringify(keystore));
      writeFileSync(join(passwords, `key${i}.txt`), "loading-test");
    }),
  );
  await pool.close();

  signer = await startTestSigner({ interopKeys: 0, decryptionThreads: 1, keySources: { keystoresPath: dir, keystoresPasswordsPath: passwords } });
  const get = (path: string) => fetch(`${signer!.url}${path}`);
  const sign = (key: string) =>
    fetch(`${signer!.url}/api/v1/eth2/sign/${key}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(randaoBody(370000)) });

  expect((await get("/upcheck")).status).toBe(200);
  const early = await get("/healthcheck");
  expect(early.status).toBe(503);
  expect(await early.json()).toMatchObject({ checks: expect.arrayContaining([expect.objectContaining({ status: "LOADING", data: expect.objectContaining({ total: KEYSTORES, done: false }) })]) });

  // Wait for the first key, while others are still loading.
  let loaded: string[] = [];
  while (loaded.length === 0) {
    await new Promise((r) => setTimeout(r, 20));
    loaded = (await (await get("/api/v1/eth2/publicKeys")).json()) as string[];
  }
  expect(loaded.length).toBeLessThan(KEYSTORES);
  expect((await sign(loaded[0]!)).status).toBe(200);
  const notYet = await sign(`0x${"ab".repeat(48)}`);
  expect(notYet.status).toBe(503);
  expect(notYet.headers.get("retry-after")).toBe("1");
  expect(((await notYet.json()) as { message: string }).message).toMatch(/not loaded yet/);

  await signer.keysLoaded;
  const ready = await get("/healthcheck");
  expect(ready.status).toBe(200);
  expect(await ready.json()).toMatchObject({
    status: "UP",
    checks: expect.arrayContaining([expect.objectContaining({ id: "keys-check", data: expect.objectContaining({ total: KEYSTORES, loaded: KEYSTORES, failed: 0, done: true }) })]),
  });
  expect(((await (await get("/api/v1/eth2/publicKeys")).json()) as string[]).length).toBe(KEYSTORES);
  // Once loading is over, an unknown key is simply unknown.
  expect((await sign(`0x${"ab".repeat(48)}`)).status).toBe(404);
});
