import { isIPv4, isIPv6 } from "node:net";

/**
 * Addresses and CIDR blocks as 16 bytes. IPv4 is held as IPv4-mapped IPv6
 * (::ffff:a.b.c.d), so `127.0.0.1` and `::ffff:127.0.0.1` are the same
 * address, and the IPv4 block a.b.c.d/n is ::ffff:a.b.c.d/(96+n). Hence
 * `0.0.0.0/0` covers every IPv4 address (plain or mapped) and no other IPv6
 * address, while `::/0` covers everything.
 */
export interface Cidr {
  readonly base: Uint8Array;
  readonly prefix: number;
}

const MAX_ADDRESS_LENGTH = 64;

/**
 * The 16 bytes of an IPv4 or IPv6 address, or undefined when the text is not
 * one. A zone (`fe80::1%eth0`) is accepted and ignored only when allowZone.
 */
export function parseAddress(text: string, allowZone = false): Uint8Array | undefined {
  if (typeof text !== "string" || text.length === 0 || text.length > MAX_ADDRESS_LENGTH) return undefined;
  const percent = text.indexOf("%");
  if (percent !== -1 && !allowZone) return undefined;
  const bare = percent === -1 ? text : text.slice(0, percent);
  if (isIPv4(bare)) return mappedV4(bare);
  if (isIPv6(bare)) return parseV6(bare);
  return undefined;
}

function mappedV4(text: string): Uint8Array | undefined {
  const octets = text.split(".").map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) return undefined;
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(octets, 12);
  return out;
}

function groups(parts: readonly string[]): number[] | undefined {
  const out: number[] = [];
  for (const part of parts) {
    if (part.includes(".")) {
      const v4 = mappedV4(part);
      if (v4 === undefined) return undefined;
      out.push((v4[12]! << 8) | v4[13]!, (v4[14]! << 8) | v4[15]!);
    } else {
      if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return undefined;
      out.push(parseInt(part, 16));
    }
  }
  return out;
}

/** Text that node:net already accepted as IPv6. */
function parseV6(text: string): Uint8Array | undefined {
  const gap = text.indexOf("::");
  const headText = gap === -1 ? text : text.slice(0, gap);
  const tailText = gap === -1 ? "" : text.slice(gap + 2);
  const head = groups(headText === "" ? [] : headText.split(":"));
  const tail = groups(tailText === "" ? [] : tailText.split(":"));
  if (head === undefined || tail === undefined) return undefined;
  if (gap === -1 ? head.length !== 8 : head.length + tail.length > 7) return undefined;
  const all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((group, i) => {
    out[2 * i] = group >> 8;
    out[2 * i + 1] = group & 0xff;
  });
  return out;
}

/** A CIDR block (`10.0.0.0/8`, `2001:db8::/32`, or a bare address) or the reason it is not one. */
export function parseCidr(text: string): Cidr | string {
  if (typeof text !== "string") return "not a string";
  const slash = text.indexOf("/");
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const base = parseAddress(addressText);
  if (base === undefined) return `"${text.slice(0, 80)}" is not an IPv4 or IPv6 address or CIDR block`;
  const v4 = isIPv4(addressText);
  const max = v4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const prefixText = text.slice(slash + 1);
    if (!/^[0-9]{1,3}$/.test(prefixText) || Number(prefixText) > max) {
      return `"${text}" has prefix length "${prefixText.slice(0, 10)}"; it must be 0 to ${max}`;
    }
    prefix = Number(prefixText);
  }
  const full = v4 ? prefix + 96 : prefix;
  for (let bit = full; bit < 128; bit++) {
    if ((base[bit >> 3]! >> (7 - (bit & 7))) & 1) return `"${text}" has bits set past its /${prefix} prefix`;
  }
  return { base, prefix: full };
}

export function cidrContains(cidr: Cidr, address: Uint8Array): boolean {
  const whole = cidr.prefix >> 3;
  for (let i = 0; i < whole; i++) if (cidr.base[i] !== address[i]) return false;
  const rest = cidr.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (cidr.base[whole]! & mask) === (address[whole]! & mask);
}
