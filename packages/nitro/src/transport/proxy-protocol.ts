// PROXY protocol version 2 (HAProxy's proxy-protocol.txt, §2.2), TCP only: a vsock
// stream tells its listener only "CID 3 connected", so the parent's ingress opens
// each stream with this binary header naming the client it relays. The enclave
// can learn no more than the parent asserts: the header is the parent's word.
//
//   signature (12 bytes) ‖ version 2 and command (1) ‖ family and protocol (1) ‖
//   length (uint16 BE) ‖ length bytes: source address, destination address,
//   source port, destination port (all network order), then TLVs, which we skip.
import { isIPv4, isIPv6 } from "node:net";
import type { Duplex } from "node:stream";

const SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** Signature, version/command, family/protocol, length. */
const FIXED_PART = 16;
const VERSION = 0x2;
const COMMAND_LOCAL = 0x0;
const COMMAND_PROXY = 0x1;
const TCP_OVER_IPV4 = 0x11;
const TCP_OVER_IPV6 = 0x21;
/** Two addresses and two 16-bit ports. */
const IPV4_BLOCK = 2 * 4 + 2 * 2;
const IPV6_BLOCK = 2 * 16 + 2 * 2;

/**
 * The most bytes after the fixed part that a reader accepts: the largest
 * address block the spec defines (two 108-byte AF_UNIX paths). It leaves TCP
 * over IPv4 204 bytes of TLVs and TCP over IPv6 180, far more than a sender
 * of ours ever writes (none), and keeps what a peer can make us buffer small.
 */
export const MAX_PROXY_V2_BODY = 216;

export interface ProxyEndpoint {
  readonly address: string;
  readonly port: number;
}

export type ProxyHeader =
  | { readonly kind: "proxy"; readonly source: ProxyEndpoint; readonly destination: ProxyEndpoint }
  /** The sender speaks for itself (a health check): use the stream's own endpoints. */
  | { readonly kind: "local" };

/** What was wrong with a header that readProxyV2 refused. */
export type ProxyProtocolFailure = "signature" | "version" | "command" | "family" | "length" | "truncated" | "timeout" | "stream";

export class ProxyProtocolError extends Error {
  override readonly name = "ProxyProtocolError";
  readonly failure: ProxyProtocolFailure;

  constructor(failure: ProxyProtocolFailure, message: string, options?: ErrorOptions) {
    super(`PROXY protocol v2: ${message}`, options);
    this.failure = failure;
  }
}

/**
 * The header for a TCP connection from `source` to `destination` (command
 * PROXY). IPv4-mapped IPv6 addresses (::ffff:1.2.3.4, as a dual-stack
 * listener reports IPv4 clients) are written as IPv4; when one address is IPv4
 * and the other IPv6, both go out as IPv6, the IPv4 one mapped. A zone index
 * (fe80::1%eth0) cannot be carried and is left off.
 */
export function encodeProxyV2(connection: { readonly source: ProxyEndpoint; readonly destination: ProxyEndpoint }): Buffer {
  let source = addressBytes(connection.source.address, "source");
  let destination = addressBytes(connection.destination.address, "destination");
  if (source.length !== destination.length) [source, destination] = [asIpv6(source), asIpv6(destination)];
  const ipv6 = source.length === 16;
  const blockLength = ipv6 ? IPV6_BLOCK : IPV4_BLOCK;
  const header = Buffer.alloc(FIXED_PART + blockLength);
  SIGNATURE.copy(header, 0);
  header[12] = (VERSION << 4) | COMMAND_PROXY;
  header[13] = ipv6 ? TCP_OVER_IPV6 : TCP_OVER_IPV4;
  header.writeUInt16BE(blockLength, 14);
  header.set(source, FIXED_PART);
  header.set(destination, FIXED_PART + source.length);
  header.writeUInt16BE(checkedPort(connection.source.port, "source"), FIXED_PART + 2 * source.length);
  header.writeUInt16BE(checkedPort(connection.destination.port, "destination"), FIXED_PART + 2 * source.length + 2);
  return header;
}

/**
 * Reads exactly one PROXY v2 header off `stream` and leaves every byte after
 * it for the next reader (the stream is left paused, as pipe() or a 'data'
 * listener expects). Rejects with a ProxyProtocolError on a wrong signature,
 * version or command, an unsupported family (only TCP over IPv4 or IPv6 for
 * PROXY), a length over MAX_PROXY_V2_BODY or too short for its addresses, a
 * stream that ends or fails first, or no whole header within `timeoutMs`; the
 * caller then drops the connection. IPv4-mapped IPv6 addresses come back as IPv4.
 */
export function readProxyV2(stream: Duplex, timeoutMs: number): Promise<ProxyHeader> {
  return new Promise((resolve, reject) => {
    let fixedPart: Buffer | undefined;

    const finish = (outcome: ProxyHeader | ProxyProtocolError) => {
      clearTimeout(timer);
      stream.off("readable", onReadable).off("end", onEnd).off("close", onEnd).off("error", onError);
      if (outcome instanceof ProxyProtocolError) reject(outcome);
      else resolve(outcome);
    };
    // read(n) hands out all n bytes or none (fewer only once the stream has ended), so
    // nothing past the header is ever taken.
    const take = (length: number): Buffer | null | ProxyProtocolError => {
      const bytes = stream.read(length) as Buffer | null;
      return bytes !== null && bytes.length < length ? truncated() : bytes;
    };
    const onReadable = () => {
      if (fixedPart === undefined) {
        const bytes = take(FIXED_PART);
        if (bytes === null) return;
        if (bytes instanceof ProxyProtocolError) return finish(bytes);
        const refusal = checkFixedPart(bytes);
        if (refusal !== undefined) return finish(refusal);
        fixedPart = bytes;
      }
      const bodyLength = fixedPart.readUInt16BE(14);
      const body = bodyLength === 0 ? Buffer.alloc(0) : take(bodyLength);
      if (body instanceof ProxyProtocolError) finish(body);
      else if (body !== null) finish(decode(fixedPart, body));
    };
    const onEnd = () => finish(truncated());
    const onError = (cause: Error) => finish(new ProxyProtocolError("stream", `the stream failed before the header was read: ${cause.message}`, { cause }));

    const timer = setTimeout(() => finish(new ProxyProtocolError("timeout", `no whole header within ${timeoutMs} ms`)), timeoutMs);
    if (stream.destroyed || stream.readableEnded) {
      finish(truncated());
      return;
    }
    stream.on("readable", onReadable).once("end", onEnd).once("close", onEnd).once("error", onError);
    // Bytes may already wait in the buffer, announced to an earlier reader (the simulated transport's
    // preamble reader) whose "readable" will not be repeated for us: look now.
    onReadable();
  });
}

const truncated = () => new ProxyProtocolError("truncated", "the stream ended before a whole header arrived (partial headers are refused)");

/** Why the fixed part is refused, if it is: everything that can be refused before the address block is read. */
function checkFixedPart(bytes: Buffer): ProxyProtocolError | undefined {
  if (!bytes.subarray(0, SIGNATURE.length).equals(SIGNATURE)) {
    return new ProxyProtocolError("signature", "the stream does not start with the v2 signature; is the sender configured for PROXY protocol v2?");
  }
  const version = bytes[12]! >> 4;
  const command = bytes[12]! & 0x0f;
  if (version !== VERSION) return new ProxyProtocolError("version", `version ${version} is not 2`);
  if (command !== COMMAND_LOCAL && command !== COMMAND_PROXY) return new ProxyProtocolError("command", `command ${command} is neither LOCAL (0) nor PROXY (1)`);
  const bodyLength = bytes.readUInt16BE(14);
  if (bodyLength > MAX_PROXY_V2_BODY) return new ProxyProtocolError("length", `${bodyLength} bytes of addresses and TLVs exceed the ${MAX_PROXY_V2_BODY} accepted`);
  // A LOCAL header's family is to be ignored (spec §2.2); its block is skipped all the same.
  if (command === COMMAND_LOCAL) return undefined;
  const family = bytes[13]!;
  const blockLength = family === TCP_OVER_IPV4 ? IPV4_BLOCK : family === TCP_OVER_IPV6 ? IPV6_BLOCK : undefined;
  if (blockLength === undefined) {
    return new ProxyProtocolError("family", `family/protocol 0x${family.toString(16).padStart(2, "0")} is not supported (only TCP over IPv4, 0x11, or IPv6, 0x21)`);
  }
  if (bodyLength < blockLength) return new ProxyProtocolError("length", `${bodyLength} bytes cannot hold the ${blockLength}-byte address block of its family`);
  return undefined;
}

function decode(fixedPart: Buffer, body: Buffer): ProxyHeader {
  if ((fixedPart[12]! & 0x0f) === COMMAND_LOCAL) return { kind: "local" };
  const size = fixedPart[13] === TCP_OVER_IPV4 ? 4 : 16;
  return {
    kind: "proxy",
    source: { address: formatAddress(body.subarray(0, size)), port: body.readUInt16BE(2 * size) },
    destination: { address: formatAddress(body.subarray(size, 2 * size)), port: body.readUInt16BE(2 * size + 2) },
  };
}

/** 4 bytes for IPv4 and IPv4-mapped IPv6, 16 for other IPv6. */
function addressBytes(text: string, which: string): Buffer {
  const bare = typeof text === "string" ? text.replace(/%.*$/, "") : text;
  if (isIPv4(bare)) return Buffer.from(bare.split(".").map(Number));
  if (!isIPv6(bare)) throw new TypeError(`PROXY protocol v2: the ${which} address ${JSON.stringify(text)?.slice(0, 80)} is not an IPv4 or IPv6 address`);
  const bytes = ipv6Bytes(bare);
  return isIpv4Mapped(bytes) ? bytes.subarray(12) : bytes;
}

function checkedPort(port: number, which: string): number {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new TypeError(`PROXY protocol v2: the ${which} port ${String(port)} is not an integer from 0 to 65535`);
  return port;
}

const IPV4_MAPPED_PREFIX = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);

const isIpv4Mapped = (bytes: Buffer) => bytes.length === 16 && bytes.subarray(0, 12).equals(IPV4_MAPPED_PREFIX);

const asIpv6 = (bytes: Buffer) => (bytes.length === 16 ? bytes : Buffer.concat([IPV4_MAPPED_PREFIX, bytes]));

/** The 16 bytes of text that isIPv6() accepted (no zone index). */
function ipv6Bytes(text: string): Buffer {
  // A dotted IPv4 tail (::ffff:1.2.3.4) stands for the last two groups.
  const hex = text.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a: string, b: string, c: string, d: string) => `${(Number(a) * 256 + Number(b)).toString(16)}:${(Number(c) * 256 + Number(d)).toString(16)}`);
  const groupsOf = (part: string | undefined) => (part === undefined || part === "" ? [] : part.split(":").map((group) => Number.parseInt(group, 16)));
  const [head, tail] = hex.split("::");
  const before = groupsOf(head);
  const after = groupsOf(tail);
  const groups = [...before, ...new Array<number>(8 - before.length - after.length).fill(0), ...after];
  const bytes = Buffer.alloc(16);
  groups.forEach((group, index) => bytes.writeUInt16BE(group, 2 * index));
  return bytes;
}

/** Dotted IPv4 (also for IPv4-mapped IPv6), or IPv6 in RFC 5952's canonical form. */
function formatAddress(bytes: Buffer): string {
  if (bytes.length === 4 || isIpv4Mapped(bytes)) return Array.from(bytes.subarray(bytes.length - 4)).join(".");
  const groups = Array.from({ length: 8 }, (_, index) => bytes.readUInt16BE(2 * index));
  // RFC 5952 §4.2: the longest run of two or more zero groups (the first, on a tie) becomes "::".
  let runStart = -1;
  let runLength = 1;
  for (let start = 0; start < 8; ) {
    let end = start;
    while (end < 8 && groups[end] === 0) end++;
    if (end - start > runLength) [runStart, runLength] = [start, end - start];
    start = Math.max(end, start + 1);
  }
  const hex = groups.map((group) => group.toString(16));
  if (runStart === -1) return hex.join(":");
  return `${hex.slice(0, runStart).join(":")}::${hex.slice(runStart + runLength).join(":")}`;
}
