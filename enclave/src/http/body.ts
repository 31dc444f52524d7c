import type { IncomingMessage } from "node:http";
import { HttpError } from "./errors.ts";

/**
 * Reads a JSON request body, enforcing the size limit before buffering more
 * than it and the content type before parsing anything.
 */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  checkJsonContentType(req.headers["content-type"]);
  const buffer = await readBody(req, maxBytes);
  if (buffer.length === 0) throw new HttpError(400, "request body is empty; expected a JSON object");
  try {
    return JSON.parse(buffer.toString("utf8"));
  } catch (error) {
    // JSON.parse reports syntax errors and, for absurd nesting, RangeError; both are the client's fault.
    const detail = error instanceof SyntaxError ? error.message : "nesting too deep";
    throw new HttpError(400, `request body is not valid JSON: ${detail}`);
  }
}

export function checkJsonContentType(contentType: string | undefined): void {
  // A missing Content-Type is tolerated: some clients omit it, and the body is parsed as JSON anyway.
  if (contentType === undefined) return;
  const mediaType = contentType.split(";", 1)[0]!.trim().toLowerCase();
  if (mediaType !== "application/json") {
    throw new HttpError(415, `unsupported Content-Type "${contentType.slice(0, 100)}"; send application/json`);
  }
}

/**
 * A body over the limit is answered with 413 at once, and the rest of it is
 * read and dropped so that the client sees the answer instead of a reset;
 * past DISCARD_LIMIT the connection is cut.
 */
const DISCARD_LIMIT = 16 << 20;

export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > maxBytes) {
    discardRest(req);
    return Promise.reject(new HttpError(413, `request body of ${declared} bytes exceeds the limit of ${maxBytes} bytes`));
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      req.off("data", onData);
      chunks.length = 0;
      discardRest(req);
      reject(new HttpError(413, `request body exceeds the limit of ${maxBytes} bytes`));
    };
    req.on("data", onData);
    req.once("end", () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total)));
    req.once("error", () => reject(new HttpError(400, "request body was not received completely")));
  });
}

function discardRest(req: IncomingMessage): void {
  let discarded = 0;
  req.on("data", (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > DISCARD_LIMIT) req.socket.destroy();
  });
  req.resume();
}
