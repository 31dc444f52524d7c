import { nitroAddon, type PollCallback, type PollerHandle } from "../native.ts";

/**
 * Readiness events for one descriptor on this thread's event loop (a libuv
 * poll handle, level-triggered). Whoever owns the descriptor sets `onEvents`
 * and says what to watch; `close()` must come before closing the descriptor.
 */
export class FdWatcher {
  onEvents: PollCallback = () => {};
  #handle: PollerHandle;
  #events = 0;
  #closed = false;

  constructor(fd: number) {
    this.#handle = nitroAddon().pollerCreate(fd, (error, events) => {
      // On an error libuv has stopped watching by itself.
      if (error) this.#events = 0;
      this.onEvents(error, events);
    });
  }

  /** Watches for `events` (POLL_READABLE | POLL_WRITABLE; 0 for nothing); a no-op once closed. */
  watch(events: number): void {
    if (this.#closed || events === this.#events) return;
    nitroAddon().pollerSet(this.#handle, events);
    this.#events = events;
  }

  /** Idempotent; no callback runs after this. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    nitroAddon().pollerClose(this.#handle);
  }
}
