import { connect, type Socket } from "node:net";

/**
 * A minimal keep-alive HTTP/1.1 load generator for benchmarks: each
 * connection sends one pre-encoded request at a time and reads exactly one
 * response (status line + Content-Length). Like wrk, it costs the machine
 * far less than the server it measures, which matters when both share the
 * same cores.
 */
export class LeanHttpClient {
  private readonly idle: LeanConnection[] = [];
  private readonly waiting: Array<(c: LeanConnection) => void> = [];
  private readonly all: LeanConnection[] = [];

  private constructor() {}

  static async open(port: number, connections: number): Promise<LeanHttpClient> {
    const client = new LeanHttpClient();
    for (let i = 0; i < connections; i++) {
      const connection = await LeanConnection.open(port);
      client.all.push(connection);
      client.idle.push(connection);
    }
    return client;
  }

  /** Sends `request` on a free connection (waiting for one) and resolves with the status code. */
  async send(request: Buffer): Promise<number> {
    const connection = this.idle.pop() ?? (await new Promise<LeanConnection>((resolve) => this.waiting.push(resolve)));
    try {
      return await connection.exchange(request);
    } finally {
      const next = this.waiting.shift();
      if (next !== undefined) next(connection);
      else this.idle.push(connection);
    }
  }

  close(): void {
    for (const connection of this.all) connection.socket.destroy();
  }
}

class LeanConnection {
  readonly socket: Socket;
  private buffer: Buffer = Buffer.alloc(0);
  private pending: ((status: number) => void) | undefined;
  private failed: ((error: Error) => void) | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (error) => this.failed?.(error));
    socket.on("close", () => this.failed?.(new Error("connection closed by the server")));
  }

  static open(port: number): Promise<LeanConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, "127.0.0.1", () => resolve(new LeanConnection(socket)));
      socket.once("error", reject);
    });
  }

  exchange(request: Buffer): Promise<number> {
    return new Promise((resolve, reject) => {
      this.pending = resolve;
      this.failed = reject;
      this.socket.write(request);
    });
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const headerEnd = this.buffer.indexOf("\r\n\r\n");
    if (headerEnd === -1) return;
    const head = this.buffer.subarray(0, headerEnd).toString("latin1");
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    const total = headerEnd + 4 + length;
    if (this.buffer.length < total) return;
    this.buffer = this.buffer.subarray(total);
    const resolve = this.pending;
    this.pending = undefined;
    resolve?.(Number(head.slice(9, 12)));
  }
}

/** Encodes a POST with a JSON body once, so that the generator does no per-request serialisation. */
export function encodePost(path: string, body: string, accept = "application/json", headers: Readonly<Record<string, string>> = {}): Buffer {
  const payload = Buffer.from(body);
  const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("");
  const head = `POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\naccept: ${accept}\r\n${extra}content-length: ${payload.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, "latin1"), payload]);
}
