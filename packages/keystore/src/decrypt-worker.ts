// Worker-thread entry of KeystoreDecryptPool: runs the slow, synchronous KDF
// work off the main thread. Imports stay relative to this package so the file
// runs the same from src/*.ts (type stripping) and from dist/*.js.
import { parentPort } from "node:worker_threads";
import { decryptKeystore, encryptKeystore, type EncryptOptions, type Keystore, type KeystoreJson } from "./eip2335.ts";
import { KeystoreError } from "./errors.ts";

/** Secrets (password, secretKey) arrive transferred and are zeroed here after use. */
export type WorkerRequest =
  | { id: number; op: "decrypt"; keystore: Keystore; password: Uint8Array }
  | { id: number; op: "encrypt"; secretKey: Uint8Array; password: Uint8Array; options: EncryptOptions };

export type WorkerResponse =
  | { id: number; ok: true; secretKey: Uint8Array }
  | { id: number; ok: true; keystore: KeystoreJson }
  | { id: number; ok: false; message: string; keystoreError: boolean };

const port = parentPort;
if (port === null) throw new Error("decrypt-worker.ts runs only as a worker thread");

port.on("message", (request: WorkerRequest) => {
  const { id } = request;
  try {
    if (request.op === "decrypt") {
      const secretKey = decryptKeystore(request.keystore, request.password);
      // Transferred, not copied: this thread's view is detached afterwards.
      port.postMessage({ id, ok: true, secretKey } satisfies WorkerResponse, [secretKey.buffer as ArrayBuffer]);
    } else {
      const keystore = encryptKeystore(request.secretKey, request.password, request.options);
      port.postMessage({ id, ok: true, keystore } satisfies WorkerResponse);
    }
  } catch (error) {
    const keystoreError = error instanceof KeystoreError;
    const message = error instanceof Error ? error.message : String(error);
    port.postMessage({ id, ok: false, message, keystoreError } satisfies WorkerResponse);
  } finally {
    request.password.fill(0);
    if (request.op === "encrypt") request.secretKey.fill(0);
  }
});
