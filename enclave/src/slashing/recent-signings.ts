/**
 * Defence in depth (DESIGN.md §8): per validator, the most recent blocks and
 * attestations this process has signed since it started. A request that would
 * be slashable against one of them is refused even when the database allows
 * it — a rolled-back, restored or tampered database cannot make this process
 * contradict itself.
 */
const REMEMBERED_PER_VALIDATOR = 16;

interface SignedBlock {
  readonly slot: bigint;
  readonly root: string;
}
interface SignedAttestation {
  readonly source: bigint;
  readonly target: bigint;
  readonly root: string;
}

export type RecentConflict = "double_block_proposal" | "double_vote" | "surrounding_vote" | "surrounded_vote";

export class RecentSignings {
  private readonly blocks = new Map<string, SignedBlock[]>();
  private readonly attestations = new Map<string, SignedAttestation[]>();

  /** Checks and, when there is no conflict, remembers — synchronously, so concurrent requests cannot interleave. */
  checkAndRememberBlock(publicKey: string, slot: bigint, signingRoot: Uint8Array): RecentConflict | undefined {
    const root = rootKey(signingRoot);
    const recent = this.blocks.get(publicKey) ?? [];
    for (const block of recent) if (block.slot === slot && block.root !== root) return "double_block_proposal";
    this.blocks.set(publicKey, remember(recent, { slot, root }, (b) => b.slot));
    return undefined;
  }

  checkAndRememberAttestation(publicKey: string, source: bigint, target: bigint, signingRoot: Uint8Array): RecentConflict | undefined {
    const root = rootKey(signingRoot);
    const recent = this.attestations.get(publicKey) ?? [];
    for (const a of recent) {
      if (a.target === target && a.root !== root) return "double_vote";
      if (source < a.source && target > a.target) return "surrounding_vote";
      if (source > a.source && target < a.target) return "surrounded_vote";
    }
    this.attestations.set(publicKey, remember(recent, { source, target, root }, (a) => a.target));
    return undefined;
  }
}

function rootKey(root: Uint8Array): string {
  return Buffer.from(root.buffer, root.byteOffset, root.byteLength).toString("hex");
}

/** Keeps the highest-ordered entries, so the memory per validator stays bounded. */
function remember<T>(recent: readonly T[], entry: T, order: (item: T) => bigint): T[] {
  const next = [...recent, entry].sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
  return next.length > REMEMBERED_PER_VALIDATOR ? next.slice(next.length - REMEMBERED_PER_VALIDATOR) : next;
}
