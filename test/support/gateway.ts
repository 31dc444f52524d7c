import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { startCli, type CliProcess } from "./cli-process.ts";

export interface RunningGateway {
  readonly cli: CliProcess;
  /** Where the validator client connects: http://127.0.0.1:<port>. */
  readonly url: string;
}

/** `strongroom gateway` on a free loopback port, once it listens. */
export async function startGateway(args: readonly string[]): Promise<RunningGateway> {
  const cli = startCli(["gateway", "--listen=127.0.0.1:0", ...args]);
  const url = (await cli.waitForOutput(/"url":"(http:\/\/[^"]+)"[^\n]*"msg":"gateway listening"/))[1]!;
  return { cli, url };
}

/** The JSON log lines of a process's stdout whose msg is `msg`. */
export function logLines(stdout: string, msg: string): Record<string, unknown>[] {
  return stdout
    .split("\n")
    .filter((line) => line.includes(`"msg":"${msg}"`))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

export interface CurlAnswer {
  readonly status: number;
  /** Response headers, names in lower case (the last of repeated ones). */
  readonly headers: Record<string, string>;
  /** Every response header line as received, in order. */
  readonly rawHeaders: readonly (readonly [string, string])[];
  readonly body: string;
}

const run = promisify(execFile);

/** Runs curl, as an operator or a validator client's HTTP stack would, and splits its answer. */
export async function curl(args: readonly string[]): Promise<CurlAnswer> {
  const { stdout } = await run("curl", ["--silent", "--show-error", "--include", ...args], { maxBuffer: 16 << 20 });
  let rest = stdout;
  let head: string;
  // Interim answers (100 Continue) come first; the final one follows.
  do {
    const end = rest.indexOf("\r\n\r\n");
    head = rest.slice(0, end);
    rest = rest.slice(end + 4);
  } while (/^HTTP\/1\.1 1\d\d/.test(head));
  const [statusLine, ...fields] = head.split("\r\n");
  const rawHeaders = fields.map((field) => {
    const colon = field.indexOf(":");
    return [field.slice(0, colon).trim(), field.slice(colon + 1).trim()] as const;
  });
  const headers = Object.fromEntries(rawHeaders.map(([name, value]) => [name.toLowerCase(), value]));
  return { status: Number(statusLine!.split(" ")[1]), headers, rawHeaders, body: rest };
}
