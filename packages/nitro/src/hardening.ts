// Process hardening for the signing core (DESIGN.md §12): no ptrace or
// /proc/<pid>/mem access by other users' processes, no core files. Each step
// is read back rather than assumed.
//
// Memory is NOT locked. mlockall (in any form: MCL_CURRENT, MCL_FUTURE,
// MCL_ONFAULT) marks V8's mappings VM_LOCKED, and the kernel then refuses
// V8's madvise(MADV_DONTNEED) when it releases heap pages (EINVAL); V8 treats
// that as fatal ("Check failed: 0 == ret") and aborts the process, at the
// latest at exit and under load during GC (seen with Node.js 24.21). The
// addon's mlockAll() stays available for when that changes; hardening.test.ts
// checks that it still holds. An enclave has no swap device, so nothing is
// lost there; on a standard-mode host, run without swap or with encrypted swap.
import { readFileSync } from "node:fs";
import { nitroAddon } from "./native.ts";

export interface HardeningReport {
  /** prctl(PR_GET_DUMPABLE) after the change: false means hardened. */
  dumpable: boolean;
  /** RLIMIT_CORE after the change, in bytes: 0 means no core files. */
  coreLimit: number;
  /** "SKIPPED": mlockall is not attempted, since it makes V8 abort (see above). */
  mlockall: string;
  /** VmLck from /proc/self/status: what is locked after all (0 unless something else locked memory). */
  lockedKiB: number;
}

/**
 * Makes the process non-dumpable and sets RLIMIT_CORE to 0 (soft and hard,
 * so it cannot be raised again); throws if either fails. Reports each
 * setting as read back.
 */
export function hardenProcess(): HardeningReport {
  const addon = nitroAddon();
  addon.setNotDumpable();
  addon.setCoreLimitZero();
  return { dumpable: isDumpable(), coreLimit: coreDumpLimit(), mlockall: "SKIPPED", lockedKiB: lockedMemoryKiB() };
}

/** prctl(PR_GET_DUMPABLE) != 0. */
export function isDumpable(): boolean {
  return nitroAddon().isDumpable();
}

/** The soft RLIMIT_CORE in bytes; Infinity when unlimited. */
export function coreDumpLimit(): number {
  return nitroAddon().coreLimit();
}

/** Locked memory (VmLck) in KiB, from /proc/self/status. */
export function lockedMemoryKiB(): number {
  const match = /^VmLck:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "latin1"));
  if (!match) throw new Error("no VmLck line in /proc/self/status; is /proc mounted?");
  return Number(match[1]);
}
