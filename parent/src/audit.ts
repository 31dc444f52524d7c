// The boundary audit recorder: the parent can record every byte it relays, per
// channel and connection, to a file, so that tests can check what crossed the
// boundary (only ciphertext, only redacted logs). Recording is off unless a
// recorder is passed; it is a test instrument, not a production log, and the
// file holds the relayed bytes themselves.
import { readFileSync, type WriteStream, createWriteStream } from "node:fs";

export type AuditDirection = "to-enclave" | "from-enclave";

/** One line of the recording file. */
interface AuditRecord {
  readonly channel: string;
  readonly connection: number;
  readonly direction: AuditDirection;
  /** The chunk, base64. */
  readonly data: string;
}

/** One relayed connection's side of the recording. */
export interface AuditConnection {
  /** Unique within its recorder, counting from 1. */
  readonly id: number;
  toEnclave(bytes: Uint8Array): void;
  fromEnclave(bytes: Uint8Array): void;
}

/** Everything one connection carried, each direction concatenated in order. */
export interface AuditStream {
  readonly channel: string;
  readonly connection: number;
  readonly toEnclave: Buffer;
  readonly fromEnclave: Buffer;
}

/**
 * Appends one NDJSON record per relayed chunk to a file, in the order the
 * chunks were relayed: `{"channel":"ingress","connection":1,"direction":"to-enclave","data":"<base64>"}`.
 */
export class AuditRecorder {
  readonly #file: WriteStream;
  #lastConnection = 0;
  #closed = false;
  #failure: Error | undefined;

  private constructor(file: WriteStream) {
    this.#file = file;
    // A failed file (cannot open, disk full) must not take the parent down; close() reports it.
    file.on("error", (error) => (this.#failure ??= error));
  }

  /** Creates (or truncates) the file at `path`, readable by its owner only. */
  static open(path: string): AuditRecorder {
    return new AuditRecorder(createWriteStream(path, { flags: "w", mode: 0o600 }));
  }

  /** A new connection on `channel` ("ingress", "egress:kms.eu-west-1.amazonaws.com:443", "logs"). */
  connection(channel: string): AuditConnection {
    const id = ++this.#lastConnection;
    const record = (direction: AuditDirection) => (bytes: Uint8Array) => this.#write({ channel, connection: id, direction, data: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64") });
    return { id, toEnclave: record("to-enclave"), fromEnclave: record("from-enclave") };
  }

  /** Flushes and closes the file; rejects if writing it failed. Chunks relayed afterwards are not recorded. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      await new Promise<void>((resolve) => this.#file.end(resolve));
    }
    if (this.#failure !== undefined) throw new Error(`audit recording ${String(this.#file.path)} failed: ${this.#failure.message}`, { cause: this.#failure });
  }

  #write(record: AuditRecord): void {
    if (this.#closed || this.#failure !== undefined) return;
    this.#file.write(`${JSON.stringify(record)}\n`);
  }
}

/** The streams of a recording, in the order their first chunk was recorded. */
export function readAuditRecording(path: string): AuditStream[] {
  const chunks = new Map<number, { channel: string; toEnclave: Buffer[]; fromEnclave: Buffer[] }>();
  const lines = readFileSync(path, "utf8").split("\n");
  lines.forEach((line, index) => {
    if (line === "") return;
    const record = parseRecord(line, `${path} line ${index + 1}`);
    let stream = chunks.get(record.connection);
    if (stream === undefined) chunks.set(record.connection, (stream = { channel: record.channel, toEnclave: [], fromEnclave: [] }));
    if (stream.channel !== record.channel) throw new Error(`${path} line ${index + 1}: connection ${record.connection} is on channel ${stream.channel}, not ${record.channel}`);
    (record.direction === "to-enclave" ? stream.toEnclave : stream.fromEnclave).push(Buffer.from(record.data, "base64"));
  });
  return [...chunks].map(([connection, { channel, toEnclave, fromEnclave }]) => ({
    channel,
    connection,
    toEnclave: Buffer.concat(toEnclave),
    fromEnclave: Buffer.concat(fromEnclave),
  }));
}

function parseRecord(line: string, where: string): AuditRecord {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new Error(`${where} is not JSON; is this an audit recording?`);
  }
  const record = value as Partial<AuditRecord> | null;
  if (
    typeof record?.channel !== "string" ||
    !Number.isSafeInteger(record.connection) ||
    (record.direction !== "to-enclave" && record.direction !== "from-enclave") ||
    typeof record.data !== "string"
  ) {
    throw new Error(`${where} is not an audit record (channel, connection, direction, data)`);
  }
  return record as AuditRecord;
}
