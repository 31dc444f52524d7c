// The parent's side of the control channel (vsock enclave:5001): keep a
// connection, bootstrap the enclave on every (re)connection — idempotent for
// an enclave already serving the same configuration, essential for one that
// was just restarted — forward the current AWS credentials and every refresh,
// and ask for health on a schedule so the watchdog knows the enclave answers.
import { ControlClient, ENCLAVE_PORTS, type AwsCredentials as ForwardedCredentials, type BootstrapConfig, type EnclaveHealth } from "@strongroom/control";
import type { Transport } from "@strongroom/nitro";
import type { Logger } from "pino";
import type { AwsCredentials, CredentialRefresher } from "./aws/index.ts";

/** A bootstrap opens the slashing database through egress; a cold one can take a while. */
const BOOTSTRAP_TIMEOUT_MS = 60_000;

export interface ControlLinkOptions {
  readonly transport: Transport;
  /** The enclave's CID, once it runs. */
  readonly enclaveCid: () => number | undefined;
  readonly bootstrap: BootstrapConfig;
  /** The parent's AWS credentials, if it forwards any. */
  readonly credentials?: CredentialRefresher;
  readonly log: Logger;
  /** Bound on one request; a bootstrap opens the database, so it gets longer. */
  readonly requestTimeoutMs?: number;
  readonly healthEveryMs?: number;
}

export class ControlLink {
  readonly #options: Required<Omit<ControlLinkOptions, "credentials">> & Pick<ControlLinkOptions, "credentials">;
  #client: ControlClient | undefined;
  #health: EnclaveHealth | undefined;
  #lastAnswerAt = 0;
  #stopped = false;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  readonly #unsubscribe: (() => void) | undefined;

  constructor(options: ControlLinkOptions) {
    this.#options = { requestTimeoutMs: 10_000, healthEveryMs: 1_000, ...options };
    this.#unsubscribe = options.credentials?.onCredentials((credentials) => void this.#forward(credentials));
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** The enclave's last health answer, and when it came (0: never). */
  health(): { readonly health: EnclaveHealth | undefined; readonly at: number } {
    return { health: this.#health, at: this.#lastAnswerAt };
  }

  /** Drops the connection and starts over at once (after the enclave was restarted). */
  reset(): void {
    this.#health = undefined;
    this.#client?.close();
    this.#wake?.();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe?.();
    this.#client?.close();
    this.#wake?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const { log } = this.#options;
    let lastFailure = "";
    while (!this.#stopped) {
      try {
        await this.#session();
      } catch (error) {
        const reason = (error as Error).message;
        // A starting enclave refuses connections for a while; say so once, not every second.
        if (reason !== lastFailure) log.warn({ reason }, "control channel to the enclave is down; retrying");
        lastFailure = reason;
      }
      this.#client = undefined;
      await this.#sleep(500);
    }
  }

  /**
   * One connection: credentials first (a DynamoDB-backed enclave needs them
   * to open its database), then health on a schedule, bootstrapping whenever
   * the enclave says it waits for one — after its start, after a restart, or
   * after a bootstrap that failed because the database was not there yet.
   */
  async #session(): Promise<void> {
    const { transport, enclaveCid, bootstrap, requestTimeoutMs, healthEveryMs, log } = this.#options;
    const cid = enclaveCid();
    if (cid === undefined) throw new Error("the enclave is not running");
    const client = new ControlClient(await transport.connect(cid, ENCLAVE_PORTS.control), requestTimeoutMs);
    this.#client = client;
    try {
      const current = this.#options.credentials?.current();
      if (current !== undefined) await client.expectOk({ type: "credentials", credentials: forwarded(current) });
      while (!this.#stopped) {
        this.#health = await client.health();
        this.#lastAnswerAt = Date.now();
        if (this.#health.state === "awaiting-bootstrap") {
          try {
            await client.expectOk({ type: "bootstrap", config: bootstrap }, BOOTSTRAP_TIMEOUT_MS);
            log.info({ cid }, "enclave bootstrapped over the control channel");
            continue;
          } catch (error) {
            if (!/bootstrap failed/.test((error as Error).message)) throw error;
            log.warn({ reason: (error as Error).message }, "enclave bootstrap failed; retrying");
          }
        }
        await this.#sleep(this.#health.state === "serving" ? healthEveryMs : 2_000);
      }
    } finally {
      client.close();
    }
  }

  async #forward(credentials: AwsCredentials): Promise<void> {
    const client = this.#client;
    if (client === undefined) return; // the next session sends the current ones
    try {
      await client.expectOk({ type: "credentials", credentials: forwarded(credentials) });
      this.#options.log.info({ accessKeyId: credentials.accessKeyId, expiration: credentials.expiration?.toISOString() ?? "never" }, "forwarded refreshed AWS credentials to the enclave");
    } catch (error) {
      this.#options.log.warn({ reason: (error as Error).message }, "could not forward refreshed AWS credentials; the next control session sends them");
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }
}

function forwarded(credentials: AwsCredentials): ForwardedCredentials {
  return {
    accessKeyId: credentials.accessKeyId,
    secretAccessKey: credentials.secretAccessKey,
    ...(credentials.sessionToken !== undefined && { sessionToken: credentials.sessionToken }),
    ...(credentials.expiration !== undefined && { expiration: credentials.expiration.toISOString() }),
  };
}
