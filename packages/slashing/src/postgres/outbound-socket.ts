/**
 * What `pg` wants as a custom stream — an unconnected socket it calls
 * `connect(port, host)` on and waits for "connect" — built over
 * OutboundOptions.connect. pg then runs its SSLRequest and TLS over it, so
 * the TLS endpoint is this process, whatever carries the bytes.
 */
import { Duplex } from "node:stream";
import type { OutboundOptions } from "../outbound.ts";

export class OutboundSocket extends Duplex {
  readonly #open: OutboundOptions["connect"];
  #inner: Duplex | undefined;

  constructor(open: OutboundOptions["connect"]) {
    super();
    this.#open = open;
    // A database connection whose peer stopped sending is dead (the egress proxy went away, or the
    // server closed it); closing it at once lets pg's pool drop it instead of handing it out again.
    this.once("end", () => this.destroy());
  }

  connect(port: number, host: string): this {
    this.#open(host, port).then(
      (inner) => {
        if (this.destroyed) {
          inner.destroy();
          return;
        }
        this.#inner = inner;
        inner.on("data", (chunk: Buffer) => {
          if (!this.push(chunk)) inner.pause();
        });
        inner.on("end", () => this.push(null));
        inner.on("error", (error) => this.destroy(error));
        inner.on("close", () => this.destroy());
        this.emit("connect");
      },
      (error: unknown) => this.destroy(error as Error),
    );
    return this;
  }

  // pg tunes TCP sockets; a stream to an egress proxy has nothing to tune.
  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  override _read(): void {
    this.#inner?.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    if (this.#inner === undefined) {
      done(new Error("write before the outbound stream connected"));
      return;
    }
    this.#inner.write(chunk, done);
  }

  override _final(done: (error?: Error | null) => void): void {
    this.#inner?.end();
    done();
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    this.#inner?.destroy();
    done(error);
  }
}
