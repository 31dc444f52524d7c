import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { WorkerRequest, WorkerResponse } from "./decrypt-worker.ts";
import type { EncryptOptions, Keystore, KeystoreJson } from "./eip2335.ts";
import { KeystoreError } from "./errors.ts";

// Run from sources (type stripping, vitest) the worker is the .ts file next
// to this one; run from the build it is the emitted .js.
const WORKER_URL = new URL(import.meta.url.endsWith(".ts") ? "./decrypt-worker.ts" : "./decrypt-worker.js", import.meta.url);

/** A request before the pool numbers it (Omit distributed over the union). */
type Unnumbered<T> = T extends unknown ? Omit<T, "id"> : never;
type Request = Unnumbered<WorkerRequest>;

interface Job {
  request: Request;
  /** The secrets in `request`, transferred to the worker (or zeroed if it never runs). */
  secrets: Uint8Array[];
  resolve: (response: WorkerResponse) => void;
  reject: (error: Error) => void;
}

/**
 * Worker threads for EIP-2335 KDF work (decrypt, and encrypt for tests and
 * demo keys), one job per thread at a time. Workers start on demand and do
 * not keep the process alive while idle.
 *
 * Secrets cross threads by transfer: the pool copies the caller's password
 * (or secret key) into a fresh buffer and transfers it, so no copy stays on
 * this thread; the worker zeroes it after use. The caller keeps and zeroes its
 * own. Decrypted secret keys come back the same way and belong to the caller.
 */
export class KeystoreDecryptPool {
  readonly threads: number;
  #workers = new Set<Worker>();
  #idle: Worker[] = [];
  #running = new Map<Worker, Job & { id: number }>();
  #queue: Job[] = [];
  #nextId = 0;
  #closed = false;

  constructor(threads: number = availableParallelism()) {
    if (!Number.isSafeInteger(threads) || threads < 1) throw new RangeError("threads must be a positive integer");
    this.threads = threads;
  }

  /**
   * decryptKeystore on a worker: the raw password bytes in, the secret key
   * (the caller's to zero) out; rejects with KeystoreError on refusal.
   */
  async decrypt(keystore: Keystore, password: Uint8Array): Promise<Uint8Array> {
    const pw = ownedCopy(password);
    const response = await this.#submit({ op: "decrypt", keystore, password: pw }, [pw]);
    if (!("secretKey" in response)) throw new Error("decrypt-worker answered a decrypt with a keystore");
    return response.secretKey;
  }

  /** Encrypt a secret key into a keystore (tests, benchmarks, demo keys). */
  async encrypt(secretKey: Uint8Array, password: Uint8Array, options: EncryptOptions = {}): Promise<KeystoreJson> {
    const sk = ownedCopy(secretKey);
    const pw = ownedCopy(password);
    const response = await this.#submit({ op: "encrypt", secretKey: sk, password: pw, options }, [sk, pw]);
    if (!("keystore" in response)) throw new Error("decrypt-worker answered an encrypt with a key");
    return response.keystore;
  }

  /** Refuse queued jobs, stop the workers (jobs in flight are rejected). */
  async close(): Promise<void> {
    this.#closed = true;
    for (const job of this.#queue.splice(0)) this.#abandon(job, new Error("keystore pool closed"));
    await Promise.all([...this.#workers].map((worker) => worker.terminate()));
  }

  #submit(request: Request, secrets: Uint8Array[]): Promise<WorkerResponse & { ok: true }> {
    return new Promise((resolve, reject) => {
      const job: Job = {
        request,
        secrets,
        resolve: (response) =>
          response.ok ? resolve(response) : reject(response.keystoreError ? new KeystoreError(response.message) : new Error(response.message)),
        reject,
      };
      if (this.#closed) return this.#abandon(job, new Error("keystore pool closed"));
      this.#queue.push(job);
      this.#pump();
    });
  }

  #abandon(job: Job, error: Error): void {
    for (const secret of job.secrets) secret.fill(0);
    job.reject(error);
  }

  #pump(): void {
    while (this.#queue.length > 0) {
      const worker = this.#idle.pop() ?? (this.#workers.size < this.threads ? this.#spawn() : undefined);
      if (worker === undefined) return;
      const job = this.#queue.shift() as Job;
      const id = this.#nextId++;
      this.#running.set(worker, { ...job, id });
      worker.ref();
      worker.postMessage({ ...job.request, id }, job.secrets.map((secret) => secret.buffer as ArrayBuffer));
    }
  }

  #spawn(): Worker {
    const worker = new Worker(WORKER_URL);
    this.#workers.add(worker);
    worker.on("message", (response: WorkerResponse) => {
      const job = this.#running.get(worker);
      if (job === undefined || job.id !== response.id) return;
      this.#running.delete(worker);
      this.#idle.push(worker);
      worker.unref();
      job.resolve(response);
      this.#pump();
    });
    // A worker that dies (crash, out of memory, terminate) fails its job
    // only; the next job starts a fresh worker.
    const retire = (error: Error) => {
      this.#workers.delete(worker);
      this.#idle = this.#idle.filter((w) => w !== worker);
      const job = this.#running.get(worker);
      this.#running.delete(worker);
      job?.reject(error);
      if (!this.#closed) this.#pump();
    };
    worker.on("error", (error) => retire(error));
    worker.on("exit", (code) => retire(new Error(this.#closed ? "keystore pool closed" : `keystore worker exited with code ${code}`)));
    return worker;
  }
}

/**
 * A copy that owns its ArrayBuffer, so it can be transferred. `slice()` is not
 * enough: on a Buffer it returns a view into Node's shared allocation pool,
 * which cannot be transferred (and must never be detached).
 */
function ownedCopy(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes);
}
