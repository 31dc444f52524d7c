// The egress proxies: the enclave has no network, so each host it may reach
// (KMS, DynamoDB, PostgreSQL) gets a vsock port on the parent, and every
// stream accepted there is relayed as raw bytes (the enclave's TLS) to that
// one host:port — like AWS vsock-proxy with its allowlist. The enclave picks
// a port, never a destination.
import { lookup } from "node:dns/promises";
import { connect, isIPv4, isIPv6, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { EGRESS_PORTS } from "@strongroom/control";
import type { Transport, TransportServer, TransportStream } from "@strongroom/nitro";
import type { Logger } from "pino";
import type { AuditRecorder } from "./audit.ts";
import { relay } from "./pipe.ts";

export interface EgressRoute {
  /** The parent's vsock port the enclave connects to. */
  readonly vsockPort: number;
  /** A DNS name (lower case), an IPv4 address, or an IPv6 address without brackets. */
  readonly host: string;
  readonly port: number;
}

export interface EgressOptions {
  readonly transport: Transport;
  readonly routes: readonly EgressRoute[];
  /** Records every relayed byte (channel "egress:<host>:<port>"), for tests. */
  readonly audit?: AuditRecorder | undefined;
  readonly log: Logger;
  /** How long a TCP connect to a host may take before the enclave's stream is reset (10 s). */
  readonly connectTimeoutMs?: number;
  /** Whether every host must resolve before the proxies start (true). */
  readonly resolve?: boolean;
}

export interface Egress {
  readonly routes: readonly EgressRoute[];
  /** Stops listening and destroys every open connection. */
  close(): Promise<void>;
}

export const FIRST_EGRESS_PORT = EGRESS_PORTS.first;
export const MAX_EGRESS_ROUTES = EGRESS_PORTS.last - EGRESS_PORTS.first + 1;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** Letters, digits and inner hyphens; 1 to 63 characters a label, 253 in all (RFC 1035 §2.3.1, RFC 1123 §2.1). */
const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const PORT = /^[1-9][0-9]{0,4}$/;

/**
 * Routes for allowlist entries (`host:port`, `[IPv6]:port`), on vsock ports
 * firstPort, firstPort + 1, … in entry order. Throws naming the first
 * malformed or repeated entry, or when there are more than 100.
 */
export function parseEgressAllowlist(entries: readonly string[], firstPort: number = FIRST_EGRESS_PORT): EgressRoute[] {
  if (entries.length > MAX_EGRESS_ROUTES) {
    throw new Error(`egress allowlist: ${entries.length} entries, at most ${MAX_EGRESS_ROUTES} (one vsock port each, ${firstPort}–${firstPort + MAX_EGRESS_ROUTES - 1})`);
  }
  if (!Number.isInteger(firstPort) || firstPort < 0 || firstPort + MAX_EGRESS_ROUTES > 0xffff_ffff) {
    throw new RangeError(`egress allowlist: the first vsock port ${String(firstPort)} leaves no room for ${MAX_EGRESS_ROUTES} ports`);
  }
  const seen = new Map<string, string>();
  return entries.map((entry, index) => {
    const { host, port } = parseEntry(entry);
    const key = formatHostPort(host, port);
    const earlier = seen.get(key);
    if (earlier !== undefined) throw new Error(`egress allowlist entry ${JSON.stringify(entry)} repeats ${JSON.stringify(earlier)}; list each host:port once`);
    seen.set(key, entry);
    return { vsockPort: firstPort + index, host, port };
  });
}

function parseEntry(entry: string): { host: string; port: number } {
  const refuse = (why: string) => new Error(`egress allowlist entry ${JSON.stringify(entry)?.slice(0, 300)} ${why}; write host:port, or [IPv6 address]:port`);
  if (typeof entry !== "string") throw refuse("is not a string");
  const match = /^(?:\[([^\]]*)\]|([^:[\]]*)):([^:]*)$/.exec(entry);
  if (match === null) throw refuse("is not host:port");
  const [, bracketed, plain = "", portText = ""] = match;
  if (!PORT.test(portText) || Number(portText) > 0xffff) throw refuse(`has port ${JSON.stringify(portText)}, not a number from 1 to 65535`);
  const port = Number(portText);
  if (bracketed !== undefined) {
    if (bracketed.includes("%") || !isIPv6(bracketed)) throw refuse(`has ${JSON.stringify(bracketed)} in brackets, which is not an IPv6 address (zone indexes are not allowed)`);
    // One spelling per address, so that [::1] and [0::1] count as the same entry.
    return { host: new URL(`http://[${bracketed}]/`).hostname.slice(1, -1), port };
  }
  if (isIPv4(plain)) return { host: plain, port };
  const name = plain.toLowerCase().replace(/\.$/, "");
  const labels = name.split(".");
  // An all-digit last label is a mistyped IPv4 address, never a top-level domain (RFC 1123 §2.1).
  if (name.length === 0 || name.length > 253 || !labels.every((label) => DNS_LABEL.test(label)) || /^[0-9]+$/.test(labels.at(-1) ?? "")) {
    throw refuse(`has host ${JSON.stringify(plain)}, which is neither an IPv4 address nor a DNS name`);
  }
  return { host: name, port };
}

/** host:port, with an IPv6 host in brackets. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Checks that every host resolves (unless `resolve` is false), then listens on
 * each route's vsock port at the parent's CID. Refuses to start, naming the
 * hosts, when any does not resolve, and naming the port when one is taken.
 */
export async function startEgress(options: EgressOptions): Promise<Egress> {
  const { transport, routes, log } = options;
  if (options.resolve !== false) await checkResolvable(routes);
  const open = new Set<Duplex>();
  const servers: TransportServer[] = [];
  let closed = false;
  const closeServers = () => Promise.all(servers.map((server) => server.close()));
  const onStream = (route: EgressRoute) => (stream: TransportStream) => {
    // A stream accepted just before close() must not open a connection after it.
    if (closed) stream.destroy();
    else relayToHost(stream, route, options, open);
  };
  for (const route of routes) {
    try {
      servers.push(await transport.listen(route.vsockPort, onStream(route)));
    } catch (cause) {
      await closeServers();
      throw new Error(`egress: cannot listen on vsock port ${route.vsockPort} for ${formatHostPort(route.host, route.port)}: ${(cause as Error).message}`, { cause });
    }
  }
  log.info({ routes: routes.map((route) => `${route.vsockPort} → ${formatHostPort(route.host, route.port)}`) }, "egress proxies listening");
  return {
    routes,
    close: async () => {
      closed = true;
      await closeServers();
      for (const stream of open) stream.destroy();
    },
  };
}

async function checkResolvable(routes: readonly EgressRoute[]): Promise<void> {
  const failures = await Promise.all(
    routes.map((route) =>
      lookup(route.host).then(
        () => undefined,
        (error: NodeJS.ErrnoException) => `${route.host} (${error.code ?? error.message})`,
      ),
    ),
  );
  const unresolved = failures.filter((failure) => failure !== undefined);
  if (unresolved.length > 0) {
    throw new Error(`egress: cannot start: allow-listed ${unresolved.length === 1 ? "host does" : "hosts do"} not resolve: ${unresolved.join(", ")}; fix the egress allowlist or this machine's DNS`);
  }
}

/** Relays one enclave stream to the route's host; a host that cannot be reached resets the stream. */
function relayToHost(stream: TransportStream, route: EgressRoute, options: EgressOptions, open: Set<Duplex>): void {
  const destination = formatHostPort(route.host, route.port);
  const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const upstream: Socket = connect({ host: route.host, port: route.port, allowHalfOpen: true });
  for (const socket of [stream, upstream]) {
    open.add(socket);
    socket.once("close", () => open.delete(socket));
  }
  // While connecting: the enclave may give up (its stream closes), the host may not answer.
  const onStreamGone = () => upstream.destroy();
  const onFailure = (reason: string) => {
    upstream.destroy();
    stream.destroy();
    options.log.warn({ destination, vsockPort: route.vsockPort, reason }, "egress: cannot reach the allow-listed host; enclave stream reset");
  };
  const onError = (error: Error) => onFailure(error.message);
  const onTimeout = () => onFailure(`no TCP connection within ${timeoutMs} ms`);
  // A reset of the enclave's stream shows as its 'close'; relay() takes the errors over once connected.
  stream.on("error", () => {}).once("close", onStreamGone);
  upstream.once("error", onError).once("timeout", onTimeout).setTimeout(timeoutMs);
  upstream.once("connect", () => {
    upstream.setTimeout(0).off("error", onError).off("timeout", onTimeout);
    stream.off("close", onStreamGone);
    relay({
      enclave: stream,
      outside: upstream,
      audit: options.audit?.connection(`egress:${destination}`),
      onClose: (error) => options.log.debug({ destination, reason: error?.message }, "egress connection closed"),
    });
  });
}
