// A TCP proxy in front of a PostgreSQL server for tests. It reads the
// client's side of the PostgreSQL frontend protocol to count round trips
// (every Sync 'S' of the extended protocol and every simple Query 'Q' is one
// exchange the client waits for), and it can stall the network (pause) to
// test that clients give up in bounded time.
import { createServer, connect, type Socket } from "node:net";

export interface PgWireProxy {
  readonly port: number;
  /** Round trips (Sync and Query messages from clients) since the last reset. */
  roundTrips(): number;
  reset(): void;
  /** Stops moving bytes both ways, connections stay open: a hung network or server. */
  pause(): void;
  resume(): void;
  close(): Promise<void>;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const SYNC = 0x53;
const QUERY = 0x51;

/** Parses one connection's client-to-server bytes: untyped start-up packets first, then typed messages. */
class FrontendParser {
  #buffer = Buffer.alloc(0);
  #started = false;
  readonly #onRoundTrip: () => void;

  constructor(onRoundTrip: () => void) {
    this.#onRoundTrip = onRoundTrip;
  }

  push(chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    for (;;) {
      if (!this.#started) {
        if (this.#buffer.length < 8) return;
        const length = this.#buffer.readInt32BE(0);
        if (this.#buffer.length < length) return;
        const code = this.#buffer.readInt32BE(4);
        // SSL/GSS requests precede the startup packet; anything else untyped is the startup (or a cancel).
        if (code !== SSL_REQUEST && code !== GSSENC_REQUEST && code !== CANCEL_REQUEST) this.#started = true;
        this.#buffer = this.#buffer.subarray(length);
        continue;
      }
      if (this.#buffer.length < 5) return;
      const length = 1 + this.#buffer.readInt32BE(1);
      if (this.#buffer.length < length) return;
      const type = this.#buffer[0];
      if (type === SYNC || type === QUERY) this.#onRoundTrip();
      this.#buffer = this.#buffer.subarray(length);
    }
  }
}

export async function startPgWireProxy(upstream: { host: string; port: number }): Promise<PgWireProxy> {
  let roundTrips = 0;
  let paused = false;
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    if (paused) socket.pause();
  };

  const server = createServer((client) => {
    const server = connect(upstream.port, upstream.host);
    track(client);
    track(server);
    const parser = new FrontendParser(() => roundTrips++);
    client.on("data", (chunk: Buffer) => {
      parser.push(chunk);
      server.write(chunk);
    });
    server.on("data", (chunk: Buffer) => client.write(chunk));
    client.on("close", () => server.destroy());
    server.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (typeof address !== "object" || address === null) throw new Error("proxy has no port");

  return {
    port: address.port,
    roundTrips: () => roundTrips,
    reset: () => void (roundTrips = 0),
    pause() {
      paused = true;
      for (const socket of sockets) socket.pause();
    },
    resume() {
      paused = false;
      for (const socket of sockets) socket.resume();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
