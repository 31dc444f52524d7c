import { HttpError } from "../http/errors.ts";
import type { Logger } from "pino";

/**
 * Canary keys (DESIGN.md §4): public keys that no legitimate client ever
 * names. A request naming one means someone is probing with stolen
 * credentials or a misconfigured client; it is logged at warn and counted,
 * and with sealOnCanary all signing stops until an operator restarts or
 * re-enables the signer. Only requests that passed authentication get here,
 * so a stranger without a token cannot stop the signer this way.
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
  observe(publicKey: string, tokenId: string | undefined): boolean {
    if (!this.keys.has(publicKey)) return false;
    this.onCanary(publicKey);
    if (this.sealOnCanary && this.trippedBy === undefined) this.trippedBy = publicKey;
    this.log.warn({ publicKey, tokenId, signingStopped: this.trippedBy !== undefined }, "a request named a canary key");
    return true;
  }

  /** A 503 HttpError while signing is stopped. */
  checkSigningAllowed(): void {
    if (this.trippedBy === undefined) return;
    throw new HttpError(
      503,
      `signing is stopped: canary key ${this.trippedBy} was named in a request. Investigate, then resume with \`strongroom operator signing resume\` or restart the signer`,
    );
  }

  /** Lets signing go on after a canary stopped it; returns the canary that had stopped it, if any. */
  resume(tokenId: string | undefined): string | undefined {
    const was = this.trippedBy;
    this.trippedBy = undefined;
    if (was !== undefined) this.log.warn({ stoppedBy: was, tokenId }, "signing resumed by an operator after a canary stopped it");
    return was;
  }

  /** The canary that stopped signing, if one did. */
  get stoppedBy(): string | undefined {
    return this.trippedBy;
  }
}
