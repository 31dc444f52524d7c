// Both ends of the control channel over any byte stream (vsock in an
// enclave, simulated vsock in the simulator): the enclave answers requests
// one at a time, in order; the parent sends a request and waits for the answer
// with the same id.
import type { Duplex } from "node:stream";
import { encodeFrame, FrameDecoder, FrameError } from "./framing.ts";
import {
  CONTROL_VERSION,
  ControlMessageError,
  parseEnclaveMessage,
  parseParentMessage,
  type EnclaveHealth,
  type EnclaveMessage,
  type ParentMessage,
} from "./messages.ts";

export type EnclaveReply = { readonly type: "ok" } | { readonly type: "error"; readonly message: string } | { readonly type: "health"; readonly health: EnclaveHealth };

/** A message that could not be taken: what to log (never the message's content). */
export type RefusalListener = (reason: string) => void;

/**
 * The enclave's side of one control connection. A malformed message is
 * answered with an error and logged, and the channel stays open; an oversized
 * frame cannot be skipped safely, so it closes the connection (the parent
 * reconnects). The handler never sees anything unvalidated.
 */
export function serveControlStream(stream: Duplex, handle: (message: ParentMessage) => Promise<EnclaveReply>, onRefused: RefusalListener): void {
  const decoder = new FrameDecoder();
  let queue = Promise.resolve();
  const reply = (id: number, answer: EnclaveReply) => {
    if (stream.writable) stream.write(encodeFrame({ v: CONTROL_VERSION, id, ...answer }));
  };
  stream.on("error", () => stream.destroy());
  // A parent that stopped sending has gone (vsock streams are half-open): close our side too.
  stream.once("end", () => stream.destroy());
  stream.on("data", (chunk: Buffer) => {
    let bodies: Buffer[];
    try {
      bodies = decoder.push(chunk);
    } catch (error) {
      onRefused((error as FrameError).message);
      reply(0, { type: "error", message: (error as FrameError).message });
      // Closed both ways: a half-open control stream would leave the parent waiting.
      stream.end(() => stream.destroy());
      return;
    }
    for (const body of bodies) {
      queue = queue.then(async () => {
        let message: ParentMessage;
        try {
          message = parseParentMessage(body);
        } catch (error) {
          const reason = (error as ControlMessageError).message;
          onRefused(reason);
          reply(requestIdOf(body), { type: "error", message: reason });
          return;
        }
        try {
          reply(message.id, await handle(message));
        } catch (error) {
          reply(message.id, { type: "error", message: (error as Error).message });
        }
      });
    }
  });
}

/** The id of a request that failed validation, when one can be read, so the parent's wait ends at once. */
function requestIdOf(body: Buffer): number {
  try {
    const id = (JSON.parse(body.toString("utf8")) as { id?: unknown }).id;
    return typeof id === "number" && Number.isInteger(id) && id >= 0 && id < 2 ** 31 ? id : 0;
  } catch {
    return 0;
  }
}

export class ControlChannelError extends Error {
  override name = "ControlChannelError";
}

type Request = ParentMessage extends infer M ? (M extends ParentMessage ? Omit<M, "v" | "id"> : never) : never;

interface Pending {
  readonly resolve: (message: EnclaveMessage) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** The parent's side: requests with ids, answers matched to them, a bound on every wait. */
export class ControlClient {
  readonly #stream: Duplex;
  readonly #timeoutMs: number;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closed: Error | undefined;
  readonly closed: Promise<Error>;

  constructor(stream: Duplex, timeoutMs: number) {
    this.#stream = stream;
    this.#timeoutMs = timeoutMs;
    const decoder = new FrameDecoder();
    let onClosed: (error: Error) => void = () => {};
    this.closed = new Promise((resolve) => (onClosed = resolve));
    const shut = (error: Error) => {
      if (this.#closed !== undefined) return;
      this.#closed = error;
      for (const pending of this.#pending.values()) {
        clearTimeout(pending.timer);
        pending.reject(error);
      }
      this.#pending.clear();
      stream.destroy();
      onClosed(error);
    };
    stream.on("data", (chunk: Buffer) => {
      try {
        for (const body of decoder.push(chunk)) this.#settle(parseEnclaveMessage(body));
      } catch (error) {
        shut(new ControlChannelError(`the enclave sent an invalid control message: ${(error as Error).message}`));
      }
    });
    stream.on("error", (error) => shut(new ControlChannelError(`control channel failed: ${error.message}`)));
    stream.on("end", () => shut(new ControlChannelError("the enclave closed the control channel")));
    stream.on("close", () => shut(new ControlChannelError("the enclave closed the control channel")));
  }

  request(request: Request, timeoutMs = this.#timeoutMs): Promise<EnclaveMessage> {
    if (this.#closed !== undefined) return Promise.reject(this.#closed);
    const id = this.#nextId;
    this.#nextId = (this.#nextId % (2 ** 31 - 1)) + 1;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new ControlChannelError(`the enclave did not answer a ${request.type} request within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.#stream.write(encodeFrame({ v: CONTROL_VERSION, id, ...request }));
    });
  }

  /** Sends and insists on "ok"; an error answer becomes a ControlChannelError with the enclave's words. */
  async expectOk(request: Request, timeoutMs?: number): Promise<void> {
    const answer = await this.request(request, timeoutMs);
    if (answer.type === "error") throw new ControlChannelError(`the enclave refused ${request.type}: ${answer.message}`);
    if (answer.type !== "ok") throw new ControlChannelError(`the enclave answered ${request.type} with ${answer.type}`);
  }

  async health(): Promise<EnclaveHealth> {
    const answer = await this.request({ type: "health" });
    if (answer.type !== "health") throw new ControlChannelError(`the enclave answered health with ${answer.type}${answer.type === "error" ? `: ${answer.message}` : ""}`);
    return answer.health;
  }

  close(): void {
    this.#stream.end();
    this.#stream.destroy();
  }

  #settle(message: EnclaveMessage): void {
    const pending = this.#pending.get(message.id);
    // An answer to nobody (a request that timed out, or a refusal of an unreadable one) is dropped.
    if (pending === undefined) return;
    this.#pending.delete(message.id);
    clearTimeout(pending.timer);
    pending.resolve(message);
  }
}

export { ControlMessageError };
