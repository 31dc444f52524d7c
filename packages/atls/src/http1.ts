// One HTTP/1.1 request and its response on a socket that stays open for the
// caller's own HTTP client afterwards: just enough HTTP for the fresh
// attestation exchange, strict, and bounded before anything is parsed.
import type { Duplex } from "node:stream";

export interface HttpResponse {
  readonly status: number;
  /** Lower-case names; a repeated header's values joined by ", ". */
  readonly headers: ReadonlyMap<string, string>;
  readonly body: Buffer;
}

const MAX_HEAD_BYTES = 16 * 1024;
const HEAD_END = Buffer.from("\r\n\r\n", "latin1");
const STATUS_LINE = /^HTTP\/1\.1 (\d{3}) [^\r\n]*$/;
const HEADER = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/;

interface Head {
  readonly status: number;
  readonly headers: ReadonlyMap<string, string>;
  readonly bodyStart: number;
  /** Head and body together. */
  readonly total: number;
}

/**
 * Writes `request` and reads one response, which must state a Content-Length
 * of at most `maxBodyBytes` and be all the server sends. Rejects with an
 * Error saying what was wrong; either way, none of its listeners stays on the
 * socket, and the socket is left in its default (non-flowing) read state.
 */
export function exchange(socket: Duplex, request: Uint8Array, maxBodyBytes: number): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    let head: Head | undefined;
    const settle = (outcome: () => void) => {
      socket.off("readable", onReadable).off("end", onEnd).off("close", onEnd).off("error", onError);
      outcome();
    };
    const onEnd = () => settle(() => reject(new Error("the server closed the connection before its response was complete")));
    const onError = (error: Error) => settle(() => reject(error));
    function onReadable(): void {
      for (let chunk: Buffer | null; (chunk = socket.read() as Buffer | null) !== null; ) received = Buffer.concat([received, chunk]);
      try {
        head ??= readHead(received, maxBodyBytes);
      } catch (error) {
        return settle(() => reject(error));
      }
      if (head === undefined || received.length < head.total) return;
      const { status, headers, bodyStart, total } = head;
      if (received.length > total) return settle(() => reject(new Error(`the server sent ${received.length - total} bytes after its response`)));
      settle(() => resolve({ status, headers, body: received.subarray(bodyStart) }));
    }
    socket.on("readable", onReadable).on("end", onEnd).on("close", onEnd).on("error", onError);
    socket.write(request);
  });
}

/** The response head once it is all there (undefined until then). */
function readHead(received: Buffer, maxBodyBytes: number): Head | undefined {
  const end = received.indexOf(HEAD_END);
  if (end < 0) {
    if (received.length > MAX_HEAD_BYTES) throw new Error(`the response head is over ${MAX_HEAD_BYTES} bytes`);
    return undefined;
  }
  if (end > MAX_HEAD_BYTES) throw new Error(`the response head is over ${MAX_HEAD_BYTES} bytes`);
  const [statusLine = "", ...lines] = received.subarray(0, end).toString("latin1").split("\r\n");
  const status = STATUS_LINE.exec(statusLine);
  if (status === null) throw new Error(`the response does not start with an HTTP/1.1 status line (${JSON.stringify(statusLine.slice(0, 40))})`);
  const headers = new Map<string, string>();
  for (const line of lines) {
    const header = HEADER.exec(line);
    if (header === null) throw new Error(`the response has a malformed header line (${JSON.stringify(line.slice(0, 40))})`);
    const name = header[1]!.toLowerCase();
    const previous = headers.get(name);
    headers.set(name, previous === undefined ? header[2]! : `${previous}, ${header[2]!}`);
  }
  // The status is worth telling even when the body cannot be read.
  const response = `the ${status[1]} response`;
  if (headers.has("transfer-encoding")) throw new Error(`${response} uses Transfer-Encoding; a Content-Length is expected`);
  const length = headers.get("content-length") ?? "";
  if (!/^\d{1,9}$/.test(length)) throw new Error(`${response} has no single, valid Content-Length (${JSON.stringify(length.slice(0, 20))})`);
  if (Number(length) > maxBodyBytes) throw new Error(`${response} body is ${length} bytes, over the ${maxBodyBytes} expected`);
  const bodyStart = end + HEAD_END.length;
  return { status: Number(status[1]), headers, bodyStart, total: bodyStart + Number(length) };
}
