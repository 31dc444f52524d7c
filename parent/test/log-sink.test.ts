// The log sink over simulated vsock: the enclave's side writes lines as it
// likes (whole, split, garbage); the output receives only whole JSON objects.
import { PassThrough, Writable } from "node:stream";
import type { TransportStream } from "@strongroom/nitro";
import { afterEach, beforeEach, expect, test } from "vitest";
import { startLogSink, type LogSink, type LogSinkOptions } from "../src/log-sink.ts";
import { capturedLog, PARENT_CID, readUntilGone, silentLog, simulatedVsock, type SimulatedVsock, until } from "./relay-support.ts";

let vsock: SimulatedVsock;
const cleanups: (() => unknown)[] = [];

beforeEach(() => {
  vsock = simulatedVsock();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  vsock.remove();
});

/** An output that keeps everything written to it. */
function collectingOutput(): { output: PassThrough; text: () => string } {
  const output = new PassThrough();
  const chunks: Buffer[] = [];
  output.on("data", (chunk: Buffer) => chunks.push(chunk));
  return { output, text: () => Buffer.concat(chunks).toString() };
}

async function sink(options: Partial<LogSinkOptions> & Pick<LogSinkOptions, "output">): Promise<LogSink> {
  const started = await startLogSink({ transport: vsock.parent, log: silentLog(), ...options });
  cleanups.push(() => started.close());
  return started;
}

async function enclaveConnects(port = 9100): Promise<TransportStream> {
  const stream = await vsock.enclave.connect(PARENT_CID, port);
  stream.on("error", () => {});
  cleanups.push(() => stream.destroy());
  return stream;
}

/** Writes `pieces` one by one, each its own chunk on the parent's side, then ends and waits for the sink to be done. */
async function send(stream: TransportStream, pieces: readonly (string | Buffer)[]): Promise<void> {
  for (const piece of pieces) {
    stream.write(piece);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  const gone = readUntilGone(stream);
  stream.end();
  // The sink ends its side once it has read ours to the end.
  await gone;
}

const line = (fields: Record<string, unknown>) => `${JSON.stringify(fields)}\n`;

test("passes whole JSON object lines through as they are, however they are split", async () => {
  const { output, text } = collectingOutput();
  await sink({ output });
  const lines = [line({ level: 30, msg: "booted" }), `{ "level" : 40,\t"msg":"spaced as sent" }\n`, line({ level: 30, msg: "ünïcödé ✓" }), line({ level: 20, nested: { a: [1, 2] } })];
  const all = lines.join("");
  // Cut mid-line, mid-character and at line ends.
  const cuts = [5, 40, 41, 70, 74, all.length - 3];
  const bytes = Buffer.from(all);
  const pieces = [0, ...cuts].map((start, index) => bytes.subarray(start, [...cuts, bytes.length][index]));
  await send(await enclaveConnects(), pieces);
  expect(text()).toBe(all);
});

test("a last line without its newline still passes, with one", async () => {
  const { output, text } = collectingOutput();
  await sink({ output });
  await send(await enclaveConnects(), [line({ msg: "first" }), JSON.stringify({ msg: "last" })]);
  expect(text()).toBe(`${line({ msg: "first" })}${line({ msg: "last" })}`);
});

test.each([
  ["not JSON", "level=30 msg=secret-token-abc\n", "not JSON"],
  ["half a JSON object", '{"msg":"secret-token-abc"\n', "not JSON"],
  ["a JSON array", '["secret-token-abc"]\n', "not a JSON object"],
  ["a JSON string", '"secret-token-abc"\n', "not a JSON object"],
  ["a JSON number", "42\n", "not a JSON object"],
  ["JSON null", "null\n", "not a JSON object"],
  ["invalid UTF-8", Buffer.concat([Buffer.from('{"msg":"secret-token-abc'), Buffer.from([0xff, 0xfe]), Buffer.from('"}\n')]), "not UTF-8"],
])("drops %s, and says so in the parent's log by length only", async (_, bad, reason) => {
  const { output, text } = collectingOutput();
  const captured = capturedLog();
  await sink({ output, log: captured.log });
  const before = line({ msg: "before" });
  const after = line({ msg: "after" });
  await send(await enclaveConnects(), [before, bad, after]);
  expect(text()).toBe(before + after);
  const dropped = captured.lines.filter((entry) => entry.msg === "log sink: dropped a line from the enclave");
  expect(dropped).toEqual([expect.objectContaining({ level: 40, reason, bytes: Buffer.byteLength(bad) - 1, from: expect.stringMatching(/^16:\d+$/) })]);
  expect(captured.text()).not.toContain("secret-token");
});

test("drops a line longer than the bound, even when it comes in pieces, and keeps the lines around it", async () => {
  const { output, text } = collectingOutput();
  const captured = capturedLog();
  await sink({ output, log: captured.log, maxLineBytes: 100 });
  const fits = line({ msg: "x".repeat(100 - 10) });
  expect(fits.length - 1).toBe(100);
  const long = line({ msg: `secret-${"y".repeat(200)}` });
  await send(await enclaveConnects(), [fits, long.slice(0, 50), long.slice(50, 150), long.slice(150), fits]);
  expect(text()).toBe(fits + fits);
  expect(captured.lines.filter((entry) => entry.level === 40)).toEqual([expect.objectContaining({ reason: "longer than 100 bytes", bytes: long.length - 1 })]);
  expect(captured.text()).not.toContain("secret");
});

test("drops an overlong last line that never ends", async () => {
  const { output, text } = collectingOutput();
  const captured = capturedLog();
  await sink({ output, log: captured.log, maxLineBytes: 64 });
  await send(await enclaveConnects(), [line({ msg: "ok" }), "z".repeat(1000)]);
  expect(text()).toBe(line({ msg: "ok" }));
  expect(captured.lines.filter((entry) => entry.level === 40)).toEqual([expect.objectContaining({ reason: "longer than 64 bytes", bytes: 1000 })]);
});

test("passes blank lines over without a word", async () => {
  const { output, text } = collectingOutput();
  const captured = capturedLog();
  await sink({ output, log: captured.log });
  await send(await enclaveConnects(), ["\n\n", line({ msg: "a" }), "\n"]);
  expect(text()).toBe(line({ msg: "a" }));
  expect(captured.lines.filter((entry) => entry.level === 40)).toEqual([]);
});

test("lines of two streams are never mixed within a line", async () => {
  const { output, text } = collectingOutput();
  await sink({ output });
  const [first, second] = [await enclaveConnects(), await enclaveConnects()];
  const a = line({ from: "a", pad: "a".repeat(50) });
  const b = line({ from: "b", pad: "b".repeat(50) });
  // Each stream's line is split, and the halves interleave on the way in.
  for (let round = 0; round < 5; round++) {
    first.write(a.slice(0, 20));
    second.write(b.slice(0, 30));
    await new Promise((resolve) => setTimeout(resolve, 2));
    first.write(a.slice(20));
    second.write(b.slice(30));
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await Promise.all([send(first, []), send(second, [])]);
  const out = text().split("\n").filter((entry) => entry !== "");
  expect(out.sort()).toEqual([...Array<string>(5).fill(a.trimEnd()), ...Array<string>(5).fill(b.trimEnd())]);
});

test("a slow output holds the enclave's stream back and loses nothing", async () => {
  const received: string[] = [];
  let release: (() => void) | undefined;
  // Takes one line and then waits to be released: everything else queues behind it.
  const output = new Writable({
    highWaterMark: 16,
    write(chunk: Buffer, _encoding, done) {
      received.push(chunk.toString());
      if (received.length === 1) release = done;
      else done();
    },
  });
  await sink({ output });
  const stream = await enclaveConnects();
  const lines = Array.from({ length: 20_000 }, (_, index) => line({ index, pad: "p".repeat(100) }));
  const total = lines.join("").length;
  const sent = send(stream, [lines.join("")]);
  await until(() => release !== undefined);
  // Time for the whole 2.5 MB to pile up in the output, were the sink not holding the stream back.
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(output.writableLength).toBeLessThan(total / 4);
  release!();
  await sent;
  await until(() => received.length === lines.length);
  expect(received.join("")).toBe(lines.join(""));
});

test("close stops listening and drops the open streams", async () => {
  const { output } = collectingOutput();
  const started = await sink({ output });
  const stream = await enclaveConnects();
  const gone = readUntilGone(stream);
  stream.write(line({ msg: "x" }));
  await started.close();
  await gone;
  await expect(vsock.enclave.connect(PARENT_CID, 9100)).rejects.toMatchObject({ code: "ENODEV" });
});

test("listens on another port when told", async () => {
  const { output, text } = collectingOutput();
  await sink({ output, port: 9200 });
  await send(await enclaveConnects(9200), [line({ msg: "elsewhere" })]);
  expect(text()).toBe(line({ msg: "elsewhere" }));
});

test("a taken port is a clear error", async () => {
  const taken = await vsock.parent.listen(9100, (stream) => stream.destroy());
  cleanups.push(() => taken.close());
  await expect(startLogSink({ transport: vsock.parent, output: new PassThrough(), log: silentLog() })).rejects.toThrow(/log sink: cannot listen on vsock port 9100: .*EADDRINUSE/);
});

test("a stream cut off inside a line: the partial line is dropped, and the sink keeps serving", async () => {
  const { output, text } = collectingOutput();
  const captured = capturedLog();
  await sink({ output, log: captured.log });
  const cut = await enclaveConnects();
  cut.write('{"msg":"secret-partial');
  await new Promise((resolve) => setTimeout(resolve, 5));
  cut.destroy();
  await until(() => captured.lines.some((entry) => entry.level === 40));
  expect(captured.lines.filter((entry) => entry.level === 40)).toEqual([expect.objectContaining({ reason: "not JSON", bytes: 22 })]);
  await send(await enclaveConnects(), [line({ msg: "still here" })]);
  expect(text()).toBe(line({ msg: "still here" }));
  expect(captured.text()).not.toContain("secret");
});
