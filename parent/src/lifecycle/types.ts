/** Starts, finds and stops one enclave; the watchdog restarts it through this. */
export interface EnclaveLifecycle {
  /** What the log says ("nitro enclave i-…-enc…", "simulated enclave pid 1234"). */
  describe(): string;
  /** Starts the enclave; resolves once it has been started (not necessarily ready); rejects with a clear error. */
  start(): Promise<void>;
  /** Whether the enclave this lifecycle started (or adopted) is still running. */
  isRunning(): Promise<boolean>;
  /** Adopts an enclave already running from an earlier parent (after a parent restart); false when there is none. */
  adopt(): Promise<boolean>;
  /** Stops it; resolves once it is gone. Idempotent. */
  stop(): Promise<void>;
  /** The enclave's CID, once started or adopted. */
  cid(): number | undefined;
}
