// How the simulator's HTTPS fronts read a request body: whole, with a limit
// past which nothing more is read.
import type { IncomingMessage } from "node:http";

export interface ReadBodyOptions {
  /** Bodies above this many bytes are "too large" (refused unread when Content-Length says so). */
  readonly maxBytes: number;
  /** Zero the received chunks once they are copied into the body or abandoned (for bodies that may carry plaintext). */
  readonly wipeChunks?: boolean;
}

/** The whole body, "too large" as soon as it is known to exceed `maxBytes` (without reading on), or "closed" if the client left first. */
export function readBody(request: IncomingMessage, options: ReadBodyOptions): Promise<Buffer | "too large" | "closed"> {
  const { maxBytes, wipeChunks = false } = options;
  return new Promise((resolve) => {
    if (Number(request.headers["content-length"] ?? 0) > maxBytes) {
      resolve("too large");
      return;
    }
    const chunks: Buffer[] = [];
    const wipe = () => {
      if (wipeChunks) for (const piece of chunks) piece.fill(0);
    };
    let length = 0;
    const onData = (chunk: Buffer) => {
      length += chunk.length;
      if (length > maxBytes) {
        request.off("data", onData);
        request.pause();
        wipe();
        resolve("too large");
      } else {
        chunks.push(chunk);
      }
    };
    request.on("data", onData);
    request.once("end", () => {
      const body = Buffer.concat(chunks);
      wipe();
      resolve(body);
    });
    // Settles nothing after "end" or "too large": a promise resolves once.
    request.once("close", () => resolve("closed"));
    request.on("error", () => resolve("closed"));
  });
}
