// vsock-sim: the simulated vsock transport (Unix sockets plus its 12-byte
// preamble) against plain TCP loopback (node:net), as the parent and the
// enclave would use them: the listening side runs in a child process (the
// "enclave"), the connecting side here (the "parent"). Measures the
// throughput of one large stream and the round-trip latency of small
// ping-pong messages (p50/p99), in alternating rounds so that drift on a
// shared machine hits both alike.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { connect, createServer, type AddressInfo, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { createSimulatedTransport, type TransportStream } from "@strongroom/nitro";

const SECONDS = Number(process.env["BENCH_SECONDS"] ?? 4);
const ROUNDS = 3;
const CHUNK = 1024 * 1024;
const PING = 64;
const ENCLAVE = 16;
const PARENT = 3;
const SINK_PORT = 5000;
const ECHO_PORT = 5001;

/** Counts what arrives; at the end answers with the count (8 bytes, big-endian). */
function sink(stream: Duplex): void {
  let bytes = 0;
  stream.on("data", (chunk: Buffer) => (bytes += chunk.length));
  stream.on("end", () => {
    const count = Buffer.alloc(8);
    count.writeBigUInt64BE(BigInt(bytes));
    stream.end(count);
  });
  stream.on("error", () => {});
}

function echo(stream: Duplex): void {
  stream.on("data", (chunk: Buffer) => stream.write(chunk));
  stream.on("end", () => stream.end());
  stream.on("error", () => {});
}

async function tcpListen(onConnection: (stream: Duplex) => void): Promise<Server> {
  const server = createServer({ noDelay: true }, onConnection);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return server;
}

/** The listening side: both services on both transports; lives until its stdin closes. */
async function runPeer(simDir: string): Promise<void> {
  const enclave = createSimulatedTransport({ simDir, cid: ENCLAVE });
  await enclave.listen(SINK_PORT, sink);
  await enclave.listen(ECHO_PORT, echo);
  const tcpSink = await tcpListen(sink);
  const tcpEcho = await tcpListen(echo);
  const port = (server: Server) => (server.address() as AddressInfo).port;
  console.log(JSON.stringify({ tcpSink: port(tcpSink), tcpEcho: port(tcpEcho) }));
  process.stdin.resume().on("end", () => process.exit(0));
}

type Connect = (service: "sink" | "echo") => Promise<Duplex>;

/** MiB/s of one stream writing CHUNK-sized writes for `seconds`, as counted by the receiving side. */
async function throughput(open: Connect, seconds: number): Promise<number> {
  const stream = await open("sink");
  const chunk = Buffer.alloc(CHUNK, 0x5a);
  const reply: Buffer[] = [];
  stream.on("data", (data: Buffer) => reply.push(data));
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    if (!stream.write(chunk)) await once(stream, "drain");
  }
  stream.end();
  await once(stream, "end");
  const elapsed = (performance.now() - start) / 1000;
  const received = Number(Buffer.concat(reply).readBigUInt64BE(0));
  stream.destroy();
  return received / CHUNK / elapsed;
}

/** Round trips of PING bytes, one at a time, for `seconds`; microseconds per round trip. */
async function roundTrips(open: Connect, seconds: number): Promise<number[]> {
  const stream = await open("echo");
  const ping = Buffer.alloc(PING, 1);
  const times: number[] = [];
  let pending = 0;
  let answered: () => void = () => {};
  stream.on("data", (data: Buffer) => {
    pending -= data.length;
    if (pending === 0) answered();
  });
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    const start = performance.now();
    pending = PING;
    await new Promise<void>((resolve) => {
      answered = resolve;
      stream.write(ping);
    });
    times.push((performance.now() - start) * 1000);
  }
  stream.destroy();
  return times;
}

function percentiles(samples: number[]): { p50: number; p99: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => Number(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(1));
  return { p50: at(0.5), p99: at(0.99) };
}

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
const round1 = (value: number) => Number(value.toFixed(1));

async function main(): Promise<void> {
  const simDir = mkdtempSync(join(tmpdir(), "strongroom-bench-vsock-"));
  const peer = spawn(process.execPath, [...process.execArgv, new URL(import.meta.url).pathname, "peer", simDir], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  try {
    const [line] = (await once(peer.stdout, "data")) as [Buffer];
    const ports = JSON.parse(line.toString()) as { tcpSink: number; tcpEcho: number };
    const parent = createSimulatedTransport({ simDir, cid: PARENT });
    const simulated: Connect = (service) => parent.connect(ENCLAVE, service === "sink" ? SINK_PORT : ECHO_PORT) as Promise<TransportStream>;
    const tcp: Connect = async (service) => {
      const socket = connect({ host: "127.0.0.1", port: service === "sink" ? ports.tcpSink : ports.tcpEcho, noDelay: true });
      await once(socket, "connect");
      return socket;
    };

    await throughput(simulated, 1); // warm-up of both paths
    await throughput(tcp, 1);
    const rates = { simulated: [] as number[], tcp: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      process.stderr.write(`vsock-sim: throughput round ${round + 1}/${ROUNDS}\n`);
      rates.simulated.push(await throughput(simulated, SECONDS / 2));
      rates.tcp.push(await throughput(tcp, SECONDS / 2));
    }
    const latencies = { simulated: [] as number[], tcp: [] as number[] };
    for (let round = 0; round < 2; round++) {
      process.stderr.write(`vsock-sim: latency round ${round + 1}/2\n`);
      latencies.simulated.push(...(await roundTrips(simulated, SECONDS / 4)));
      latencies.tcp.push(...(await roundTrips(tcp, SECONDS / 4)));
    }
    const latency = { simulated: percentiles(latencies.simulated), tcp: percentiles(latencies.tcp) };
    console.log(
      JSON.stringify({
        name: "vsock-sim",
        seconds: SECONDS,
        throughput: {
          chunkBytes: CHUNK,
          simulatedMiBps: round1(mean(rates.simulated)),
          tcpMiBps: round1(mean(rates.tcp)),
          simulatedToTcpRatio: Number((mean(rates.simulated) / mean(rates.tcp)).toFixed(3)),
          goalRatio: 0.8,
          rounds: { simulated: rates.simulated.map(round1), tcp: rates.tcp.map(round1) },
        },
        roundTripMicroseconds: {
          messageBytes: PING,
          simulated: latency.simulated,
          tcp: latency.tcp,
          samples: { simulated: latencies.simulated.length, tcp: latencies.tcp.length },
          p50SimulatedToTcpRatio: Number((latency.simulated.p50 / latency.tcp.p50).toFixed(3)),
        },
      }),
    );
  } finally {
    peer.stdin.end();
    await once(peer, "exit");
    rmSync(simDir, { recursive: true, force: true });
  }
}

if (process.argv[2] === "peer") await runPeer(process.argv[3]!);
else await main();
