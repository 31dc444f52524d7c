import { readFileSync } from "node:fs";
import { UsageError } from "./options.ts";
import { promptHidden, promptNewSecret } from "./prompt.ts";

/** A limit far above any real secret, so that a wrong path (a disk image) is refused, not read. */
const MAX_SECRET_BYTES = 64 * 1024;

/**
 * Reads a secret named by reference, never given literally (DESIGN.md §9):
 * `env:NAME` (the variable's UTF-8 bytes) or `file:/path` (the file's bytes,
 * without one trailing newline). Returns bytes the caller zeroes; errors
 * name the option and never quote the secret.
 */
export function readSecret(reference: string, option: string, env: NodeJS.ProcessEnv): Buffer {
  if (reference.startsWith("env:")) {
    const name = reference.slice(4);
    const value = env[name];
    if (value === undefined || value === "") throw new UsageError(`${option}: environment variable ${name} is not set`);
    return Buffer.from(value, "utf8");
  }
  if (reference.startsWith("file:")) {
    const path = reference.slice(5);
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (error) {
      throw new UsageError(`${option}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    if (bytes.length > MAX_SECRET_BYTES) {
      bytes.fill(0);
      throw new UsageError(`${option}: ${path} is larger than ${MAX_SECRET_BYTES} bytes; it is not a secret file`);
    }
    let end = bytes.length;
    if (bytes[end - 1] === 0x0a) end--;
    if (bytes[end - 1] === 0x0d) end--;
    const secret = Buffer.from(bytes.subarray(0, end));
    bytes.fill(0);
    return secret;
  }
  throw new UsageError(`${option}: give a secret as env:NAME or file:/path, never literally`);
}

/** The reference that asks for the secret at the terminal instead. */
const PROMPT = "prompt";

/** The answer `prompt` asks for: the question, and whether it is a new secret (typed twice, compared). */
export interface PromptSettings {
  readonly question: string;
  readonly confirm: boolean;
}

/**
 * As readSecret, or `prompt`: typed at the terminal with echo off, for a
 * secret an operator keeps in their head. Checked before anything is read,
 * so a literal secret is refused without being quoted.
 */
export async function readSecretOrPrompt(reference: string, option: string, env: NodeJS.ProcessEnv, prompt: PromptSettings): Promise<Buffer> {
  checkSecretOrPrompt(reference, option);
  if (reference !== PROMPT) return readSecret(reference, option, env);
  if (prompt.confirm) return promptNewSecret(prompt.question, option);
  const secret = await promptHidden(prompt.question, option);
  if (secret.length === 0) throw new UsageError(`${option}: an empty secret was typed`);
  return secret;
}

/** Refuses, before anything is read or sent, a reference that is neither env:, file: nor prompt (a secret given literally). */
export function checkSecretOrPrompt(reference: string, option: string): void {
  if (reference !== PROMPT && !reference.startsWith("env:") && !reference.startsWith("file:")) {
    throw new UsageError(`${option}: give a secret as env:NAME, file:/path or prompt, never literally`);
  }
}
