/**
 * Serves a PGlite database over the PostgreSQL wire protocol (for the
 * simulator: "PostgreSQL is real — a server, or PGlite over its wire
 * protocol"), so that the `postgres://` backend and any PostgreSQL client can
 * use it.
 *
 * @electric-sql/pglite-socket parses the connections; its own server queues
 * work message by message, so with several connections open the Parse of one
 * could land between the Parse and the Bind of another in PGlite's single
 * session (an extended-protocol query is several messages). The arbiter below
 * gives one connection the session from its first message until PGlite is
 * idle again (ReadyForQuery, not in a transaction), so every exchange and
 * every transaction runs whole.
 */
import { createServer } from "node:net";
import type { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketHandler, type PGLiteSocketHandlerOptions } from "@electric-sql/pglite-socket";
import { createPglite } from "./pglite-instance.ts";

export interface PgliteServer {
  /** A `postgres://` URL for the served database. */
  readonly url: string;
  close(): Promise<void>;
}

/** ReadyForQuery ('Z', length 5) with status 'I': the session is idle, outside any transaction. */
const READY_FOR_QUERY_IDLE = [0x5a, 0, 0, 0, 5, 0x49];
const TERMINATE = 0x58; // 'X'
const SYNC = new Uint8Array([0x53, 0, 0, 0, 4]);

/** The last bytes PGlite wrote, enough to recognise a trailing ReadyForQuery. */
function tailOf(previous: Uint8Array, data: Uint8Array): Uint8Array {
  const keep = READY_FOR_QUERY_IDLE.length;
  if (data.length >= keep) return data.slice(-keep);
  const joined = new Uint8Array(previous.length + data.length);
  joined.set(previous);
  joined.set(data, previous.length);
  return joined.slice(-keep);
}

interface Waiter {
  readonly handlerId: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/** Stands in for pglite-socket's query queue (same three methods). */
class SessionArbiter {
  readonly #db: PGlite;
  #owner: number | undefined;
  #waiting: Waiter[] = [];

  constructor(db: PGlite) {
    this.#db = db;
  }

  async enqueue(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number> {
    await this.#acquire(handlerId);
    let tail: Uint8Array = new Uint8Array(0);
    let written = 0;
    await this.#db.runExclusive(() =>
      this.#db.execProtocolRawStream(message, {
        onRawData: (data) => {
          written += data.length;
          tail = tailOf(tail, data);
          onData(data);
        },
      }),
    );
    if (message[0] === TERMINATE || READY_FOR_QUERY_IDLE.every((byte, i) => tail[i] === byte)) this.#release(handlerId);
    return written;
  }

  clearQueueForHandler(handlerId: number): void {
    this.#waiting = this.#waiting.filter((waiter) => {
      if (waiter.handlerId !== handlerId) return true;
      waiter.reject(new Error("connection closed"));
      return false;
    });
  }

  /** A connection that leaves mid-exchange: end its pending batch and open transaction so the next one starts clean. */
  async clearTransactionIfNeeded(handlerId: number): Promise<void> {
    if (this.#owner !== handlerId) return;
    await this.#db.runExclusive(() => this.#db.execProtocolRaw(SYNC));
    if (this.#db.isInTransaction()) await this.#db.exec("ROLLBACK");
    this.#release(handlerId);
  }

  #acquire(handlerId: number): Promise<void> {
    if (this.#owner === undefined || this.#owner === handlerId) {
      this.#owner = handlerId;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => this.#waiting.push({ handlerId, resolve, reject }));
  }

  /** Hands the session to the longest-waiting connection, with everything it has queued. */
  #release(handlerId: number): void {
    if (this.#owner !== handlerId) return;
    const next = this.#waiting[0]?.handlerId;
    this.#owner = next;
    this.#waiting = this.#waiting.filter((waiter) => {
      if (waiter.handlerId !== next) return true;
      waiter.resolve();
      return false;
    });
  }
}

/**
 * Serves `dataDirOrMemory` ("memory", or the absolute path of a PGlite data
 * directory) on host:port (defaults 127.0.0.1 and a free port). The database
 * is PGlite's single `postgres` database; any user name is accepted.
 */
export async function servePglite(dataDirOrMemory: string, { host = "127.0.0.1", port = 0 }: { host?: string; port?: number } = {}): Promise<PgliteServer> {
  const db = await createPglite(dataDirOrMemory === "memory" ? undefined : dataDirOrMemory);
  const arbiter = new SessionArbiter(db);
  const handlers = new Set<PGLiteSocketHandler>();
  const server = createServer((socket) => {
    const handler = new PGLiteSocketHandler({
      // The handler only calls the three methods the arbiter has; its declared type is pglite-socket's own (unexported) queue class.
      queryQueue: arbiter as unknown as PGLiteSocketHandlerOptions["queryQueue"],
      closeOnDetach: true,
    });
    handlers.add(handler);
    handler.addEventListener("close", () => handlers.delete(handler));
    handler.addEventListener("error", () => handlers.delete(handler));
    void handler.attach(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const boundPort = typeof address === "object" && address !== null ? address.port : port;
  return {
    url: `postgres://postgres@${host.includes(":") ? `[${host}]` : host}:${boundPort}/postgres`,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...handlers].map((handler) => handler.detach(true)));
      await closed;
      await db.close();
    },
  };
}
