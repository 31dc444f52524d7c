// Keystore loading benchmark: how close parallel decryption of many
// n=2^18 scrypt keystores comes to (single-keystore time × count / cores).
// Run: node test/bench/keystore-load.ts — prints one JSON object on stdout.
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { decryptKeystore, interopSecretKey, KeystoreDecryptPool, loadKeys, parseKeystore } from "../../packages/keystore/src/index.ts";

export interface KeystoreLoadBenchResult {
  name: "keystore-load";
  keystores: number;
  cores: number;
  singleMs: number;
  wallMs: number;
  parallelEfficiency: number;
}

const KDF = { function: "scrypt", n: 262144, r: 8, p: 1 } as const;
const log = (message: string) => process.stderr.write(`keystore-load: ${message}\n`);
const password = (i: number) => new TextEncoder().encode(`bench password ${i}`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

export async function runKeystoreLoadBench({ keystores = 200, threads = availableParallelism(), singleRuns = 3 } = {}): Promise<KeystoreLoadBenchResult> {
  const dir = await mkdtemp(join(tmpdir(), "strongroom-bench-"));
  const keystoresPath = join(dir, "keystores");
  const passwordsPath = join(dir, "passwords");
  try {
    await mkdir(keystoresPath);
    await mkdir(passwordsPath);

    // Generation costs as much as decryption (one scrypt each), so it runs on
    // the same worker pool.
    log(`generating ${keystores} scrypt keystores (n=2^18, r=8, p=1) on ${threads} threads`);
    let started = performance.now();
    const pool = new KeystoreDecryptPool(threads);
    try {
      await Promise.all(
        Array.from({ length: keystores }, async (_, i) => {
          const json = await pool.encrypt(interopSecretKey(i), password(i), { kdf: KDF, path: `m/12381/3600/${i}/0/0` });
          await writeFile(join(keystoresPath, `keystore-${i}.json`), JSON.stringify(json));
          await writeFile(join(passwordsPath, `keystore-${i}.txt`), `bench password ${i}\n`);
        }),
      );
    } finally {
      await pool.close();
    }
    log(`generated in ${((performance.now() - started) / 1000).toFixed(1)} s`);

    const first = parseKeystore(await readFile(join(keystoresPath, "keystore-0.json")));
    const singles: number[] = [];
    for (let run = 0; run < singleRuns; run++) {
      started = performance.now();
      decryptKeystore(first, password(0)).fill(0);
      singles.push(performance.now() - started);
    }
    const singleMs = median(singles);
    log(`single decrypt: ${singles.map((ms) => ms.toFixed(0)).join(", ")} ms (median ${singleMs.toFixed(0)})`);

    started = performance.now();
    const loading = loadKeys(
      { keystoresPath, keystoresPasswordsPath: passwordsPath },
      { onKey: (key) => key.secretKey.fill(0), onFailure: (failure) => log(`FAILED ${failure.source}: ${failure.message}`) },
      { threads },
    );
    const progress = await loading.done;
    const wallMs = performance.now() - started;
    if (progress.loaded !== keystores) throw new Error(`only ${progress.loaded} of ${keystores} keystores loaded`);
    log(`loaded ${progress.loaded} keystores in ${(wallMs / 1000).toFixed(1)} s`);

    return {
      name: "keystore-load",
      keystores,
      cores: threads,
      singleMs: Math.round(singleMs * 10) / 10,
      wallMs: Math.round(wallMs),
      parallelEfficiency: Math.round(((keystores * singleMs) / threads / wallMs) * 1000) / 1000,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) console.log(JSON.stringify(await runKeystoreLoadBench()));
