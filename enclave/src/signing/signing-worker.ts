import { parentPort } from "node:worker_threads";
import { SecretKey } from "@chainsafe/blst";
import type { SignResult, WorkerReply, WorkerRequest } from "./messages.ts";

// Each worker holds its own copy of every secret key, so a signing job only
// carries a public key and a 32-byte root across the thread boundary.
const keys = new Map<string, SecretKey>();

function handle(request: WorkerRequest): WorkerReply | undefined {
  switch (request.op) {
    case "add":
      try {
        keys.set(request.publicKey, SecretKey.fromBytes(request.secretKey));
      } finally {
        request.secretKey.fill(0);
      }
      return undefined;
    case "remove":
      keys.delete(request.publicKey);
      return undefined;
    case "clear":
      keys.clear();
      return undefined;
    case "sign":
      return request.jobs.map(({ id, publicKey, message }): SignResult => {
        const key = keys.get(publicKey);
        return key === undefined ? { id, error: "key is not loaded in the signing worker" } : { id, signature: key.sign(message).toBytes() };
      });
  }
}

parentPort!.on("message", (request: WorkerRequest) => {
  const reply = handle(request);
  if (reply !== undefined) parentPort!.postMessage(reply);
});
