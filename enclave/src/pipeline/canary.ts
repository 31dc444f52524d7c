import type { Logger } from "pino";

/**
 * Canary keys (DESIGN.md §4): public keys that no legitimate client ever
 * names. A request naming one means someone is probing with stolen
 * credentials or a misconfigured client; it is logged at warn and counted,
 * and with sealOnCanary all signing stops until an operator restarts or
 * re-enables the signer.
 */
export class CanaryWatch {
  private readonly keys: ReadonlySet<string>;
  private readonly sealOnCanary: boolean;
  private readonly log: Logger;
  private readonly onCanary: (publicKey: string) => void;
  private trippedBy: string | undefined;

  constructor(canonicalKeys: readonly string[], sealOnCanary: boolean, log: Logger, onCanary: (publicKey: string) => void = () => undefined) {
    this.keys = new Set(canonicalKeys);
    this.sealOnCanary = sealOnCanary;
    this.log = log;
    this.onCanary = onCanary;
  }

  /** Records a request naming `publicKey`; true when it is a canary. */
  observe(publicKey: string): boolean {
    if (!this.keys.has(publicKey)) return false;
    this.onCanary(publicKey);
    if (this.sealOnCanary && this.trippedBy === undefined) this.trippedBy = publicKey;
    this.log.warn({ publicKey, signingStopped: this.trippedBy !== undefined }, "a request named a canary key");
    return true;
  }

  /** The canary that stopped signing, if one did. */
  get stoppedBy(): string | undefined {
    return this.trippedBy;
  }
}
