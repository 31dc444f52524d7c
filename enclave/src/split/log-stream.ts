// The enclave's logs leave it the only way anything does: over vsock, to the
// parent's log sink on 3:9100 (DESIGN.md §10). The enclave must never block
// or fail because the parent is slow or gone, so lines wait in a bounded
// buffer while there is no connection, the oldest are dropped beyond it, and
// the count of dropped lines is reported once a connection is back.
import type { Duplex } from "node:stream";

export interface LogStreamOptions {
  /** Opens a stream to the parent's log sink. */
  readonly connect: () => Promise<Duplex>;
  /** Lines kept while disconnected (bytes). */
  readonly maxBufferedBytes?: number;
  /** Wait before reconnecting (doubles up to 5 s). */
  readonly retryMs?: number;
}

const MAX_RETRY_MS = 5_000;

/** A pino destination (anything with `write(line)`). */
export class LogStream {
  readonly #options: Required<LogStreamOptions>;
  #stream: Duplex | undefined;
  #waiting: string[] = [];
  #waitingBytes = 0;
  #dropped = 0;
  #retryMs: number;
  #closed = false;
  #connecting = false;

  constructor(options: LogStreamOptions) {
    this.#options = { maxBufferedBytes: 1 << 20, retryMs: 200, ...options };
    this.#retryMs = this.#options.retryMs;
    this.#connect();
  }

  write(line: string): boolean {
    const stream = this.#stream;
    if (stream === undefined || !stream.writable) {
      this.#hold(line);
    } else if (stream.writableLength >= this.#options.maxBufferedBytes) {
      // Connected but the sink is not keeping up: drop rather than grow, and say so once it drains.
      this.#dropped++;
    } else {
      this.#reportDropped(stream);
      stream.write(line);
    }
    return true;
  }

  #reportDropped(stream: Duplex): void {
    if (this.#dropped === 0) return;
    stream.write(`${JSON.stringify({ level: 40, time: Date.now(), msg: "log lines dropped: the parent's log sink was unreachable or too slow", dropped: this.#dropped })}\n`);
    this.#dropped = 0;
  }

  /** Flushes what the connection has taken and closes it. */
  async close(): Promise<void> {
    this.#closed = true;
    const stream = this.#stream;
    if (stream === undefined) return;
    await new Promise<void>((resolve) => {
      stream.once("close", resolve);
      stream.end();
      setTimeout(() => {
        stream.destroy();
        resolve();
      }, 1_000).unref();
    });
  }

  #hold(line: string): void {
    this.#waiting.push(line);
    this.#waitingBytes += line.length;
    while (this.#waitingBytes > this.#options.maxBufferedBytes && this.#waiting.length > 0) {
      this.#waitingBytes -= this.#waiting.shift()!.length;
      this.#dropped++;
    }
  }

  #connect(): void {
    if (this.#closed || this.#connecting) return;
    this.#connecting = true;
    this.#options.connect().then(
      (stream) => {
        this.#connecting = false;
        if (this.#closed) {
          stream.destroy();
          return;
        }
        this.#retryMs = this.#options.retryMs;
        stream.on("error", () => stream.destroy());
        stream.once("close", () => {
          if (this.#stream === stream) this.#stream = undefined;
          this.#later();
        });
        // The sink never talks back; reading keeps the stream flowing, and its end means the parent is gone.
        stream.once("end", () => stream.destroy());
        stream.resume();
        this.#reportDropped(stream);
        for (const line of this.#waiting) stream.write(line);
        this.#waiting = [];
        this.#waitingBytes = 0;
        this.#stream = stream;
      },
      () => {
        this.#connecting = false;
        this.#later();
      },
    );
  }

  #later(): void {
    if (this.#closed) return;
    setTimeout(() => this.#connect(), this.#retryMs).unref();
    this.#retryMs = Math.min(this.#retryMs * 2, MAX_RETRY_MS);
  }
}
