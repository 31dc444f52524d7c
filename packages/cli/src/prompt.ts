import { timingSafeEqual } from "node:crypto";
import { UsageError } from "./options.ts";

/** Far above any passphrase; the buffer is fixed so that typing never reallocates (and leaves copies of) what was typed. */
const MAX_TYPED_BYTES = 1024;

const ENTER = new Set([0x0a, 0x0d]);
const ERASE = new Set([0x08, 0x7f]);
const CANCEL = new Set([0x03, 0x04]);

/**
 * Reads a secret typed at the terminal with echo off (raw mode), asking on
 * stderr so that stdout stays the command's JSON. Returns bytes the caller
 * zeroes; every chunk read is zeroed as soon as it is copied. `option` names
 * the option that asked for `prompt`, for the error when there is no terminal.
 */
export async function promptHidden(question: string, option: string): Promise<Buffer> {
  const stdin = process.stdin;
  if (!stdin.isTTY) throw new UsageError(`${option}: "prompt" needs a terminal on stdin; give the secret as env:NAME or file:/path instead`);
  const typed = Buffer.alloc(MAX_TYPED_BYTES);
  let length = 0;
  process.stderr.write(question);
  stdin.setRawMode(true);
  try {
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        let outcome: Error | "done" | undefined;
        for (const byte of chunk) {
          if (ENTER.has(byte)) outcome = "done";
          else if (CANCEL.has(byte)) outcome = new Error("cancelled at the prompt; nothing was sent");
          else if (ERASE.has(byte)) length = Math.max(0, length - 1);
          else if (length === MAX_TYPED_BYTES) outcome = new Error(`more than ${MAX_TYPED_BYTES} bytes typed at the prompt`);
          else typed[length++] = byte;
          if (outcome !== undefined) break;
        }
        chunk.fill(0);
        if (outcome === undefined) return;
        stdin.off("data", onData);
        if (outcome === "done") resolve();
        else reject(outcome);
      };
      stdin.on("data", onData);
      stdin.resume();
    });
    return Buffer.from(typed.subarray(0, length));
  } finally {
    typed.fill(0);
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write("\n");
  }
}

/** A new secret, typed twice so that a typo does not lock it away: refused unless both entries are the same and not empty. */
export async function promptNewSecret(question: string, option: string): Promise<Buffer> {
  const first = await promptHidden(question, option);
  let second: Buffer | undefined;
  try {
    second = await promptHidden("Again, to confirm: ", option);
    if (first.length === 0) throw new UsageError(`${option}: an empty secret was typed`);
    if (first.length !== second.length || !timingSafeEqual(first, second)) throw new Error("the two entries differ; nothing was sent");
    return first;
  } catch (error) {
    first.fill(0);
    throw error;
  } finally {
    second?.fill(0);
  }
}
