/**
 * The one interface every slashing-protection backend implements. Public keys,
 * roots and the genesis validators root are raw bytes; numbers are bigint
 * (slots and epochs are uint64).
 */

/** The rule that refused a signing; the HTTP API answers 412 naming it. */
export type RefusalRule =
  | "genesis_validators_root_mismatch"
  | "validator_disabled"
  | "high_watermark"
  | "block_below_low_watermark"
  | "double_block_proposal"
  | "source_after_target"
  | "source_below_low_watermark"
  | "target_below_low_watermark"
  | "double_vote"
  | "surrounding_vote"
  | "surrounded_vote";

export type Decision = { readonly allowed: true } | { readonly allowed: false; readonly rule: RefusalRule; readonly message: string };

export interface BlockSigning {
  readonly publicKey: Uint8Array;
  readonly slot: bigint;
  /** The real signing root; never all zero for a signing request. */
  readonly signingRoot: Uint8Array;
  readonly genesisValidatorsRoot: Uint8Array;
}

export interface AttestationSigning {
  readonly publicKey: Uint8Array;
  readonly sourceEpoch: bigint;
  readonly targetEpoch: bigint;
  readonly signingRoot: Uint8Array;
  readonly genesisValidatorsRoot: Uint8Array;
}

export interface ImportSummary {
  readonly validators: number;
  readonly blocks: number;
  readonly attestations: number;
}

export interface PruneSummary {
  readonly blocksDeleted: number;
  readonly attestationsDeleted: number;
}

/** Thrown when the database cannot answer (unreachable, timed out, broken): the signer answers 503, never signs. */
export class SlashingDatabaseError extends Error {
  override readonly name = "SlashingDatabaseError";
}

/** Thrown for a refused interchange import or an incompatible database (wrong schema version, wrong GVR). */
export class SlashingProtectionError extends Error {
  override readonly name = "SlashingProtectionError";
}

export interface SlashingProtection {
  /** A short description for logs and errors, without credentials (e.g. "postgresql://db.internal:5432/web3signer"). */
  readonly description: string;

  /**
   * Records the genesis validators root on first use; throws
   * SlashingProtectionError if the database already holds a different one.
   * The signer calls it at start with its network's root when it knows it.
   */
  ensureGenesisValidatorsRoot(genesisValidatorsRoot: Uint8Array): Promise<void>;

  /**
   * Checks a block against EIP-3076 (complete history with low watermark) and,
   * if it may be signed, records it — atomically, in one database round trip
   * where the backend allows. Throws SlashingDatabaseError when the database
   * cannot answer.
   */
  checkAndRecordBlock(block: BlockSigning): Promise<Decision>;
  checkAndRecordAttestation(attestation: AttestationSigning): Promise<Decision>;

  /**
   * Imports an EIP-3076 v5 interchange (already validated by parseInterchange).
   * Its GVR must equal the database's (recorded on first use). Conflicting
   * entries keep protection: a slot or target that ends up with two different
   * roots is stored without a root, so it never matches a real one. The low
   * watermark of a validator is set from the first import that covers it and
   * is never lowered afterwards.
   */
  importInterchange(interchange: Interchange): Promise<ImportSummary>;

  /** Every record (for the given keys, or all), as an EIP-3076 v5 interchange. */
  exportInterchange(publicKeys?: readonly Uint8Array[]): Promise<Interchange>;

  /**
   * Sets Web3Signer's `validators.enabled`: a disabled validator signs nothing
   * on any signer sharing the database (Key Manager deletes disable, imports
   * enable again). Unknown keys are registered with that flag.
   */
  setValidatorsEnabled(publicKeys: readonly Uint8Array[], enabled: boolean): Promise<void>;

  /**
   * Deletes, per validator, records more than `keepEpochs` epochs below its
   * latest, raising its low watermark to what remains (never lowering it).
   */
  prune(keepEpochs: bigint, slotsPerEpoch: bigint): Promise<PruneSummary>;

  /** Resolves when the database answers; throws SlashingDatabaseError otherwise. */
  ping(): Promise<void>;

  close(): Promise<void>;
}

/** EIP-3076 interchange format version 5, with bytes decoded and numbers as bigint. */
export interface Interchange {
  readonly genesisValidatorsRoot: Uint8Array;
  readonly data: readonly InterchangeValidator[];
}

export interface InterchangeValidator {
  readonly publicKey: Uint8Array;
  readonly signedBlocks: readonly { readonly slot: bigint; readonly signingRoot?: Uint8Array }[];
  readonly signedAttestations: readonly { readonly sourceEpoch: bigint; readonly targetEpoch: bigint; readonly signingRoot?: Uint8Array }[];
}
