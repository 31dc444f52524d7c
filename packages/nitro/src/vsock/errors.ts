/** A failed vsock operation (real or simulated); `code` is the errno name, e.g. "ECONNREFUSED". */
export class VsockError extends Error {
  readonly code: string;

  constructor(message: string, code: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "VsockError";
    this.code = code;
  }
}

// What each failure usually means for the operator, in the terms of this system.
const HINTS: Readonly<Record<string, string>> = {
  ECONNREFUSED: "nothing listens on that port; start the listener first, or check the port",
  ECONNRESET: "the peer reset the connection (when connecting: nothing listens on that port)",
  ENODEV: "no endpoint with that CID is reachable; is the enclave running, and is the CID right?",
  EHOSTUNREACH: "no endpoint with that CID is reachable; is the enclave running, and is the CID right?",
  ETIMEDOUT: "the peer did not answer in time; is the enclave running, and is the CID right?",
  EADDRINUSE: "another listener holds that port; stop it, or choose another port",
  EADDRNOTAVAIL: "that CID is not this machine's; listen on VMADDR_CID_ANY (the default) or localCid()",
  EAFNOSUPPORT: "this kernel has no AF_VSOCK; load the vsock modules, or use the simulated transport",
};

export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * A VsockError for `operation` ("connect to CID 16 port 5000"), saying what
 * the code means (or, for a VsockError cause, what it already said) and
 * keeping the underlying error as `cause`.
 */
export function vsockError(operation: string, cause: unknown, code: string = errorCode(cause) ?? "ERR_VSOCK"): VsockError {
  const detail = cause instanceof VsockError ? cause.message : (HINTS[code] ?? (cause instanceof Error ? cause.message : "unknown failure"));
  return new VsockError(`vsock ${operation} failed (${code}): ${detail}`, code, cause === undefined ? undefined : { cause });
}
