import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { SignJob, WorkerReply, WorkerRequest } from "./messages.ts";

interface PendingJob {
  resolve(signature: Uint8Array): void;
  reject(error: Error): void;
}

interface PoolWorker {
  readonly worker: Worker;
  readonly pending: Map<number, PendingJob>;
  /** Jobs handed to this worker in the current turn of the event loop, sent together at its end. */
  batch: SignJob[];
}

// Run the TypeScript worker when this module itself runs from source (tests, `node src/...`), the built one otherwise.
const workerUrl = new URL(
  import.meta.url.endsWith(".ts") ? "./signing-worker.ts" : "./signing-worker.js",
  import.meta.url,
);

/**
 * BLS signing on worker threads, one per core. A signature costs about half a
 * millisecond of CPU; on the event loop it would cap the whole API at one
 * core, so every worker holds the keys and the loop only hands out roots.
 */
export class SigningPool {
  private readonly workers: PoolWorker[];
  private nextId = 0;
  private failure: Error | undefined;

  constructor(threads: number = availableParallelism()) {
    this.workers = Array.from({ length: Math.max(1, threads) }, () => this.spawn());
  }

  /** Gives every worker its own copy of the secret key; zeroes the caller's copy. */
  addKey(publicKeyHex: string, secretKey: Uint8Array): void {
    try {
      for (const { worker } of this.workers) {
        // A fresh Uint8Array owns its buffer (a Buffer's slice() would be a view into Node's shared pool).
        const copy = new Uint8Array(secretKey);
        worker.postMessage({ op: "add", publicKey: publicKeyHex, secretKey: copy } satisfies WorkerRequest, [copy.buffer]);
      }
    } finally {
      secretKey.fill(0);
    }
  }

  removeKey(publicKeyHex: string): void {
    this.broadcast({ op: "remove", publicKey: publicKeyHex });
  }

  clearKeys(): void {
    this.broadcast({ op: "clear" });
  }

  sign(publicKeyHex: string, message: Uint8Array): Promise<Uint8Array> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const target = this.workers.reduce((best, w) => (w.pending.size < best.pending.size ? w : best));
    const id = this.nextId++;
    // One message per worker per turn: under load, the cost of crossing threads is shared by many signatures.
    if (target.batch.length === 0) queueMicrotask(() => this.flush(target));
    target.batch.push({ id, publicKey: publicKeyHex, message });
    return new Promise<Uint8Array>((resolve, reject) => target.pending.set(id, { resolve, reject }));
  }

  private flush(target: PoolWorker): void {
    const jobs = target.batch;
    target.batch = [];
    target.worker.postMessage({ op: "sign", jobs } satisfies WorkerRequest);
  }

  async close(): Promise<void> {
    this.fail(new Error("signing pool is closed"));
    this.broadcast({ op: "clear" });
    await Promise.all(this.workers.map(({ worker }) => worker.terminate()));
  }

  private broadcast(request: WorkerRequest): void {
    for (const { worker } of this.workers) worker.postMessage(request);
  }

  /** Fails closed: a pool with a dead worker no longer has every key, so it refuses all further work. */
  private fail(error: Error): void {
    this.failure ??= error;
    for (const { pending } of this.workers) {
      for (const job of pending.values()) job.reject(this.failure);
      pending.clear();
    }
  }

  private spawn(): PoolWorker {
    const worker = new Worker(workerUrl);
    const pending = new Map<number, PendingJob>();
    worker.unref();
    worker.on("message", (reply: WorkerReply) => {
      for (const result of reply) {
        const job = pending.get(result.id);
        if (job === undefined) continue;
        pending.delete(result.id);
        if ("signature" in result) job.resolve(result.signature);
        else job.reject(new Error(result.error));
      }
    });
    worker.on("error", (error) => this.fail(new Error(`signing worker failed: ${error.message}`)));
    worker.on("exit", () => this.fail(new Error("signing worker exited")));
    return { worker, pending, batch: [] };
  }
}
