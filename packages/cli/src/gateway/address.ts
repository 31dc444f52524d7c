import { isIP } from "node:net";
import { UsageError } from "../options.ts";

export interface HostPort {
  /** A host name or an IP address (IPv6 without brackets). */
  readonly host: string;
  readonly port: number;
}

/** HOST:PORT, with an IPv6 address in brackets ([::1]:9000). */
export function parseHostPort(value: string, option: string): HostPort {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]/]+)):(\d{1,5})$/.exec(value);
  const port = Number(match?.[3]);
  const host = match?.[1] ?? match?.[2];
  if (match === null || host === undefined || port > 65535 || (match[1] !== undefined && isIP(match[1]) !== 6)) {
    throw new UsageError(`${option}: expected HOST:PORT (an IPv6 address in brackets, e.g. [::1]:9000), got ${JSON.stringify(value).slice(0, 80)}`);
  }
  return { host, port };
}

/** How the gateway names an upstream in logs, metrics and error messages. */
export function formatHostPort({ host, port }: HostPort): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** 127.0.0.0/8, ::1 (and its IPv4-mapped forms) or localhost: reachable from this host only. */
export function isLoopback(host: string): boolean {
  const lower = host.toLowerCase();
  if (lower === "localhost" || lower === "::1") return true;
  const v4 = lower.startsWith("::ffff:") ? lower.slice(7) : lower;
  return isIP(v4) === 4 && v4.startsWith("127.");
}
