// The log sink: the enclave has no console anyone can read, so it streams its
// (already redacted) NDJSON logs to the parent over vsock, and the parent
// writes them out beside its own. Only whole lines that are JSON objects pass;
// anything else is dropped and reported by size, because the parent must not
// be made to write arbitrary bytes into the operator's log pipeline.
import { TextDecoder } from "node:util";
import { LOG_SINK_PORT } from "@strongroom/control";
import type { Transport, TransportServer, TransportStream } from "@strongroom/nitro";
import type { Logger } from "pino";
import type { AuditRecorder } from "./audit.ts";

export interface LogSinkOptions {
  readonly transport: Transport;
  /** The parent's vsock port the enclave streams its logs to (9100). */
  readonly port?: number;
  /** Where passed lines go, each written whole and ended with "\n". */
  readonly output: NodeJS.WritableStream;
  /** Records every byte received (channel "logs"), for tests. */
  readonly audit?: AuditRecorder | undefined;
  /** Longer lines (without their "\n") are dropped (64 KiB). */
  readonly maxLineBytes?: number;
  /** The parent's own logger: reports what was dropped and why. */
  readonly log: Logger;
}

export interface LogSink {
  /** Stops listening and destroys the open log streams (a partial line at their end is lost). */
  close(): Promise<void>;
}

const DEFAULT_PORT = LOG_SINK_PORT;
const DEFAULT_MAX_LINE_BYTES = 64 * 1024;
const NEWLINE = 0x0a;

export async function startLogSink(options: LogSinkOptions): Promise<LogSink> {
  const port = options.port ?? DEFAULT_PORT;
  const open = new Set<TransportStream>();
  let closed = false;
  let server: TransportServer;
  try {
    server = await options.transport.listen(port, (stream) => {
      // A stream accepted just before close() is not read after it.
      if (closed) return stream.destroy();
      open.add(stream);
      stream.once("close", () => open.delete(stream));
      forwardLines(stream, options);
    });
  } catch (cause) {
    throw new Error(`log sink: cannot listen on vsock port ${port}: ${(cause as Error).message}`, { cause });
  }
  options.log.info({ vsockPort: port }, "log sink listening");
  return {
    close: async () => {
      closed = true;
      await server.close();
      for (const stream of open) stream.destroy();
    },
  };
}

/** Splits one enclave stream into lines and writes out those that are JSON objects. */
function forwardLines(stream: TransportStream, options: LogSinkOptions): void {
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const audit = options.audit?.connection("logs");
  const from = `${stream.remoteCid}:${stream.remotePort}`;
  const drop = (bytes: number, reason: string) => options.log.warn({ from, bytes, reason }, "log sink: dropped a line from the enclave");
  const utf8 = new TextDecoder("utf-8", { fatal: true });

  // The line so far; once it outgrows the bound only its length is kept, until its newline.
  let pieces: Buffer[] = [];
  let lineBytes = 0;
  let overlong = false;

  const append = (piece: Buffer) => {
    lineBytes += piece.length;
    if (overlong) return;
    if (lineBytes > maxLineBytes) {
      overlong = true;
      pieces = [];
    } else if (piece.length > 0) {
      pieces.push(piece);
    }
  };
  const endLine = () => {
    const line = Buffer.concat(pieces);
    const length = lineBytes;
    const tooLong = overlong;
    pieces = [];
    lineBytes = 0;
    overlong = false;
    if (tooLong) return drop(length, `longer than ${maxLineBytes} bytes`);
    if (length === 0) return; // a blank line carries nothing to drop
    const refusal = whyNotJsonObject(line, utf8);
    if (refusal !== undefined) return drop(length, refusal);
    // A full output holds the enclave's stream back (the lines of the chunk at hand still go out).
    if (!options.output.write(Buffer.concat([line, Buffer.of(NEWLINE)])) && !stream.isPaused()) {
      stream.pause();
      options.output.once("drain", () => stream.resume());
    }
  };

  stream.on("data", (chunk: Buffer) => {
    audit?.fromEnclave(chunk);
    let start = 0;
    for (let newline = chunk.indexOf(NEWLINE); newline !== -1; newline = chunk.indexOf(NEWLINE, start)) {
      append(chunk.subarray(start, newline));
      endLine();
      start = newline + 1;
    }
    append(chunk.subarray(start));
  });
  stream.once("end", () => {
    // A last line without its newline still counts, if it is whole JSON.
    if (lineBytes > 0) endLine();
    stream.end();
  });
  stream.on("error", (error) => options.log.warn({ from, reason: error.message, partialLineBytes: lineBytes }, "log sink: the enclave's log stream failed"));
}

/** Why a line cannot pass, or undefined when it is a JSON object. */
function whyNotJsonObject(line: Buffer, utf8: TextDecoder): string | undefined {
  let text: string;
  try {
    text = utf8.decode(line);
  } catch {
    return "not UTF-8";
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return "not JSON";
  }
  return typeof value === "object" && value !== null && !Array.isArray(value) ? undefined : "not a JSON object";
}
