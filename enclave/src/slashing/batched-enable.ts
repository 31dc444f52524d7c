// Key Manager imports mark each key enabled in the slashing database. A bulk
// import decrypts keystores in parallel; one write per key, all at once,
// would queue hundreds of writes behind each other and make the later ones
// miss the guard's deadline. Instead one write is in flight per import, and
// it carries every key that became ready while the previous one ran: the
// batches grow exactly as fast as the database falls behind.
import type { SlashingGuard } from "./guard.ts";

/** Returns `enable(publicKey)`, resolving once a write that included the key succeeded (or rejecting with its error). */
export function batchedEnabler(guard: SlashingGuard): (publicKey: Uint8Array) => Promise<void> {
  let open: { readonly keys: Uint8Array[]; readonly written: Promise<void> } | undefined;
  let previous: Promise<unknown> = Promise.resolve();
  return (publicKey) => {
    if (open === undefined) {
      const keys: Uint8Array[] = [];
      const written = previous
        .catch(() => undefined)
        .then(() => {
          // The batch closes as its write starts; keys arriving from now on go in the next one.
          open = undefined;
          return guard.run(() => guard.database.setValidatorsEnabled(keys, true));
        });
      open = { keys, written };
      previous = written;
    }
    open.keys.push(publicKey);
    return open.written;
  };
}
