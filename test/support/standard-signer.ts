// `strongroom signer` (standard mode) as a real process on loopback with interop
// keys 0…n-1, requests from this host needing no token, and its bootstrap
// administrator token read from stderr.
import { mkdtempSync } from "node:fs";
import { freePort } from "./free-port.ts";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCli, type CliProcess } from "./cli-process.ts";
import { interopKeyConfigDir } from "./interop-key-files.ts";

export interface StandardSigner {
  readonly cli: CliProcess;
  readonly url: string;
  readonly adminToken: string;
  readonly publicKeys: readonly string[];
}

export async function startStandardSigner(keys: number, extraArgs: readonly string[] = []): Promise<StandardSigner> {
  const { dir, publicKeys } = interopKeyConfigDir(keys);
  // Chosen here, so that the URL is known whatever the log level.
  const port = await freePort();
  const cli = startCli([
    "signer",
    `--http-port=${port}`,
    `--key-config-path=${dir}`,
    "--slashing-protection-in-memory",
    "--auth-unauthenticated-policy=loopback",
    `--data-path=${mkdtempSync(join(tmpdir(), "strongroom-signer-"))}`,
    ...extraArgs,
  ]);
  const url = `http://127.0.0.1:${port}`;
  // Keys become usable one by one as they load; wait for all of them.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const listed = await fetch(`${url}/api/v1/eth2/publicKeys`).then((answer) => answer.json() as Promise<string[]>, () => []);
    if (listed.length === keys) break;
    if (cli.child.exitCode !== null || Date.now() > deadline) throw new Error(`the signer did not serve its ${keys} keys.\nstderr: ${cli.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const adminToken = /\n {2}(sr_[A-Za-z0-9_-]{43})\n/.exec(cli.stderr())![1]!;
  return { cli, url, adminToken, publicKeys };
}

