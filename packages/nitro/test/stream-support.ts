// Test support for the vsock and transport tests: streams of known content,
// hashing what arrives, waiting for a stream to settle, counting descriptors.
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Duplex, Readable, Writable } from "node:stream";

/** Open descriptors of this process. */
export const openFdCount = () => readdirSync("/proc/self/fd").length;

/** A fresh private directory, removed by the returned function. */
export function temporaryDirectory(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * Writes `chunks` random chunks of `chunkSize` bytes, honouring backpressure,
 * then ends the stream; resolves with the SHA-256 of everything written.
 */
export async function writeRandom(stream: Writable, chunks: number, chunkSize: number): Promise<string> {
  const hash = createHash("sha256");
  for (let i = 0; i < chunks; i++) {
    const chunk = randomBytes(chunkSize);
    hash.update(chunk);
    if (!stream.write(chunk)) await once(stream, "drain");
  }
  stream.end();
  return hash.digest("hex");
}

/** Reads to the end; resolves with the byte count and SHA-256 of everything read. */
export async function readAll(stream: Readable): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { bytes, sha256: hash.digest("hex") };
}

/** Everything the stream yields until its end, as one buffer. */
export async function readToEnd(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** How a stream finished: the code of the error it emitted (if any) once it has closed. */
export function settled(stream: Duplex): Promise<{ errorCode: string | undefined }> {
  return new Promise((resolve) => {
    let errorCode: string | undefined;
    stream.on("error", (error: Error & { code?: string }) => (errorCode = error.code ?? "no code"));
    stream.once("close", () => resolve({ errorCode }));
  });
}

/** Yields to the event loop until `condition` holds (readiness events, not time, decide when). */
export async function until(condition: () => boolean, turns = 100_000): Promise<void> {
  for (let turn = 0; turn < turns && !condition(); turn++) await new Promise((resolve) => setImmediate(resolve));
  if (!condition()) throw new Error("condition not reached");
}
