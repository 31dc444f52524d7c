import type { IncomingMessage, ServerResponse } from "node:http";
import { HttpError } from "./errors.ts";

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    "content-type": "application/json",
    "content-length": Buffer.byteLength(payload),
  });
  res.end(payload);
}

export function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

export function sendError(res: ServerResponse, error: HttpError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, error.status, { message: error.message }, { ...error.headers });
}

/**
 * Web3Signer's rule: JSON when the Accept header admits application/json
 * (including via `*\/*` or `application/*`), otherwise text/plain. A request
 * without an Accept header gets text/plain, as from Web3Signer.
 */
export function acceptsJson(req: IncomingMessage): boolean {
  const accept = req.headers.accept;
  if (accept === undefined) return false;
  for (const entry of accept.split(",")) {
    const [range, ...params] = entry.split(";");
    const type = range!.trim().toLowerCase();
    if (type !== "application/json" && type !== "application/*" && type !== "*/*") continue;
    const q = params.map((p) => p.trim().toLowerCase()).find((p) => p.startsWith("q="));
    if (q === undefined || Number(q.slice(2)) > 0) return true;
  }
  return false;
}

export function sendSignature(req: IncomingMessage, res: ServerResponse, signatureHex: string): void {
  if (acceptsJson(req)) sendJson(res, 200, { signature: signatureHex });
  else sendText(res, 200, signatureHex);
}
