import { readFileSync } from "node:fs";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import {
  describeEnclavesArgs,
  MAX_NITRO_CLI_OUTPUT_BYTES,
  NitroCliOutputError,
  parseDescribeEnclavesOutput,
  parseRunEnclaveOutput,
  parseTerminateEnclaveOutput,
  runEnclaveArgs,
  terminateEnclaveArgs,
  type EnclaveDescription,
  type RunEnclaveOptions,
} from "../src/lifecycle/nitro-cli.ts";
import { NitroCliError, NitroEnclaveLifecycle } from "../src/lifecycle/nitro.ts";

const FIXTURES = fileURLToPath(new URL("./fixtures/nitro-cli/", import.meta.url));
const fixture = (name: string) => readFileSync(join(FIXTURES, name), "utf8");

const STRONGROOM_ID = "i-0f3c2a7b9d1e4f506-enc18f2b7c3d4e5a6b";
const SAMPLE_ID = "i-0f3c2a7b9d1e4f506-enc18f2b7e01a9c3d2";
const STRONGROOM_MEASUREMENTS = {
  HashAlgorithm: "Sha384 { ... }",
  PCR0: "80ff86146a0246fc35ffd5ab7587219bf06dfe52bae7a775b0e3bc2d7d6bc07a62f61e7992bf44c4bc1a0e9d4e38c647",
  PCR1: "7e208435de85fb5091ccf8305e29a9911e5c71512c3aa1bb19d7083e0e3f8e3c9c85bff0a9f9a819e38585ec71cd5be9",
  PCR2: "fb583b20d3525c5b29bf8fc2e6715898c033e720a5827cf979e5619dc956c5c3cb8c164b1db4a50db638361020367cc5",
};
const STARTED: EnclaveDescription = {
  enclaveName: "strongroom",
  enclaveId: STRONGROOM_ID,
  processId: 4127,
  enclaveCid: 16,
  numberOfCpus: 2,
  cpuIds: [1, 3],
  memoryMiB: 4096,
};
const DESCRIBED: EnclaveDescription = { ...STARTED, state: "RUNNING", flags: "NONE", measurements: STRONGROOM_MEASUREMENTS };
const RUN: RunEnclaveOptions = { eifPath: "/opt/strong room/strongroom.eif", cpuCount: 2, memoryMiB: 4096, enclaveCid: 16, enclaveName: "strongroom" };
const RUN_ARGV = [
  "run-enclave",
  "--eif-path",
  "/opt/strong room/strongroom.eif",
  "--cpu-count",
  "2",
  "--memory",
  "4096",
  "--enclave-cid",
  "16",
  "--enclave-name",
  "strongroom",
];

/** The output error a parse throws, so a test can look at its field and message. */
function outputError(parse: () => unknown): NitroCliOutputError {
  try {
    parse();
  } catch (error) {
    if (error instanceof NitroCliOutputError) return error;
    throw error;
  }
  throw new Error("the output was accepted");
}

/** The describe-enclaves fixture with one enclave, changed by `edit`. */
function describedWith(edit: (enclave: Record<string, unknown>) => void): string {
  const list = JSON.parse(fixture("describe-enclaves-one.stdout.txt")) as Record<string, unknown>[];
  edit(list[0] as Record<string, unknown>);
  return JSON.stringify(list, null, 2);
}

describe("nitro-cli arguments", () => {
  test("run-enclave carries every option as its own argument, optional flags only when asked for", () => {
    expect(runEnclaveArgs({ ...RUN, debugMode: true })).toEqual([...RUN_ARGV.slice(0, 9), "--debug-mode", "--enclave-name", "strongroom"]);
    expect(runEnclaveArgs({ eifPath: "strongroom.eif", cpuCount: 3, memoryMiB: 64, debugMode: false })).toEqual([
      "run-enclave",
      "--eif-path",
      "strongroom.eif",
      "--cpu-count",
      "3",
      "--memory",
      "64",
    ]);
    expect(describeEnclavesArgs()).toEqual(["describe-enclaves"]);
    expect(terminateEnclaveArgs(STRONGROOM_ID)).toEqual(["terminate-enclave", "--enclave-id", STRONGROOM_ID]);
    expect(terminateEnclaveArgs("i-0000000000000000-enc7")).toEqual(["terminate-enclave", "--enclave-id", "i-0000000000000000-enc7"]);
  });

  test("the CID range is the one nitro-cli accepts: 4 to 2^32 − 2", () => {
    for (const cid of [4, 16, 0xffff_fffe]) expect(runEnclaveArgs({ ...RUN, enclaveCid: cid })).toContain(String(cid));
    for (const cid of [1, 2, 3, 0xffff_ffff, 2 ** 40, -16, 16.5, Number.NaN]) {
      expect(() => runEnclaveArgs({ ...RUN, enclaveCid: cid })).toThrow(/^enclaveCid \(--enclave-cid\) must be a whole number from 4 to 4294967294/);
    }
    expect(() => runEnclaveArgs({ ...RUN, enclaveCid: 0 })).toThrow("enclaveCid (--enclave-cid) 0 asks nitro-cli to choose one: leave enclaveCid out instead");
  });

  test("invalid options are refused with the option's name", () => {
    const refused: [Partial<RunEnclaveOptions>, RegExp][] = [
      [{ cpuCount: 0 }, /^cpuCount \(--cpu-count\) must be a whole number of vCPUs from 1 to 4294967295, not 0$/],
      [{ cpuCount: 1.5 }, /^cpuCount \(--cpu-count\)/],
      [{ memoryMiB: 63 }, /^memoryMiB \(--memory\) must be a whole number of MiB from 64 /],
      [{ memoryMiB: Number.POSITIVE_INFINITY }, /^memoryMiB \(--memory\)/],
      [{ eifPath: "" }, /^eifPath \(--eif-path\) must be a non-empty string/],
      [{ eifPath: "--debug-mode" }, /^eifPath \(--eif-path\) "--debug-mode" starts with "-", which nitro-cli would take for a flag; write \.\/--debug-mode/],
      [{ eifPath: "a.eif\nb" }, /^eifPath \(--eif-path\) .* contains control characters/],
      [{ enclaveName: "-x" }, /^enclaveName \(--enclave-name\) "-x" starts with "-"/],
      [{ enclaveName: "x".repeat(129) }, /^enclaveName \(--enclave-name\) is 129 characters long; at most 128/],
    ];
    for (const [change, message] of refused) expect(() => runEnclaveArgs({ ...RUN, ...change })).toThrow(message);
  });

  test("terminate-enclave takes only ids of nitro-cli's shape", () => {
    for (const id of ["i-0000_enc1234", "--all", "I-0F3C-ENC1", "i-abc-enc", "i--enc1", `${STRONGROOM_ID} x`, ""]) {
      expect(() => terminateEnclaveArgs(id)).toThrow(/is not of the form i-<hex>-enc<hex>/);
    }
  });
});

describe("nitro-cli output", () => {
  test("run-enclave: the enclave it started, with or without its progress lines in front", () => {
    expect(parseRunEnclaveOutput(fixture("run-enclave.stdout.txt"))).toStrictEqual(STARTED);
    expect(parseRunEnclaveOutput(fixture("run-enclave.stderr.txt") + fixture("run-enclave.stdout.txt"))).toStrictEqual(STARTED);
  });

  test("describe-enclaves: none, one, two", () => {
    expect(parseDescribeEnclavesOutput(fixture("describe-enclaves-none.stdout.txt"))).toEqual([]);
    expect(parseDescribeEnclavesOutput(fixture("describe-enclaves-one.stdout.txt"))).toStrictEqual([DESCRIBED]);
    const two = parseDescribeEnclavesOutput(fixture("describe-enclaves-two.stdout.txt"));
    expect(two[1]).toStrictEqual(DESCRIBED);
    expect(two[0]).toMatchObject({ enclaveName: "vsock_sample", enclaveId: SAMPLE_ID, enclaveCid: 17, cpuIds: [5, 7], memoryMiB: 512, flags: "DEBUG_MODE" });
  });

  test("terminate-enclave: the id and whether it terminated", () => {
    const expected = { enclaveId: STRONGROOM_ID, terminated: true };
    expect(parseTerminateEnclaveOutput(fixture("terminate-enclave.stdout.txt"))).toStrictEqual(expected);
    expect(parseTerminateEnclaveOutput(fixture("terminate-enclave.stderr.txt") + fixture("terminate-enclave.stdout.txt"))).toStrictEqual(expected);
    const notTerminated = JSON.stringify({ EnclaveID: STRONGROOM_ID, Terminated: false });
    expect(parseTerminateEnclaveOutput(notTerminated)).toStrictEqual({ enclaveId: STRONGROOM_ID, terminated: false });
  });

  test("fields a newer nitro-cli adds are ignored; PCR8 of a signed image is kept; {} measurements are none", () => {
    const newer = describedWith((enclave) => {
      enclave.ImageName = "strongroom";
      enclave.ImageVersion = "1.0";
      enclave.Metadata = { BuildTime: "2025-03-14T09:00:00Z", DockerInfo: { Id: "sha256:00" } };
      (enclave.Measurements as Record<string, string>).PCR8 = "ab".repeat(48);
      (enclave.Measurements as Record<string, string>).PCR9 = "future";
    });
    expect(parseDescribeEnclavesOutput(newer)).toStrictEqual([{ ...DESCRIBED, measurements: { ...STRONGROOM_MEASUREMENTS, PCR8: "ab".repeat(48) } }]);
    const unmeasured = describedWith((enclave) => {
      enclave.Measurements = {};
    });
    const { measurements: _, ...withoutMeasurements } = DESCRIBED;
    expect(parseDescribeEnclavesOutput(unmeasured)).toStrictEqual([withoutMeasurements]);
  });

  test("wrong types and values are refused, naming the field", () => {
    const refused: [(enclave: Record<string, unknown>) => void, string, RegExp][] = [
      [(e) => (e.ProcessID = "4127"), "[0].ProcessID", /must be a whole number from 1 to 4294967295, not "4127"/],
      [(e) => (e.EnclaveCID = 3), "[0].EnclaveCID", /must be a whole number from 4 to 4294967294, not 3/],
      [(e) => (e.NumberOfCPUs = 2.5), "[0].NumberOfCPUs", /not 2\.5/],
      [(e) => (e.CPUIDs = [1, -3]), "[0].CPUIDs[1]", /not -3/],
      [(e) => (e.CPUIDs = "1,3"), "[0].CPUIDs", /must be a list of CPU numbers/],
      [(e) => (e.MemoryMiB = null), "[0].MemoryMiB", /not null/],
      [(e) => delete e.EnclaveID, "[0].EnclaveID", /must be an enclave id .*, but it is missing/],
      [(e) => (e.EnclaveID = "i-0000_enc1234"), "[0].EnclaveID", /not "i-0000_enc1234"/],
      [(e) => (e.EnclaveName = 7), "[0].EnclaveName", /must be a non-empty string, not 7/],
      [(e) => delete e.State, "[0].State", /but it is missing/],
      [(e) => (e.Flags = ["NONE"]), "[0].Flags", /not a list/],
      [(e) => (e.Measurements = "none"), "[0].Measurements", /must be a JSON object/],
      [(e) => ((e.Measurements as Record<string, unknown>).PCR0 = "XYZ"), "[0].Measurements.PCR0", /must be lowercase hex/],
      [(e) => delete (e.Measurements as Record<string, unknown>).PCR2, "[0].Measurements.PCR2", /but it is missing/],
    ];
    for (const [edit, field, problem] of refused) {
      const error = outputError(() => parseDescribeEnclavesOutput(describedWith(edit)));
      expect(error.field).toBe(field);
      expect(error.subcommand).toBe("describe-enclaves");
      expect(error.message).toMatch(problem);
      expect(error.message.startsWith(`nitro-cli describe-enclaves: in its output, ${field} must be`)).toBe(true);
    }
    const run = JSON.parse(fixture("run-enclave.stdout.txt")) as Record<string, unknown>;
    expect(outputError(() => parseRunEnclaveOutput(JSON.stringify({ ...run, MemoryMiB: 4096.5 }))).field).toBe("MemoryMiB");
    expect(outputError(() => parseTerminateEnclaveOutput(JSON.stringify({ EnclaveID: STRONGROOM_ID, Terminated: "true" }))).message).toMatch(
      /^nitro-cli terminate-enclave: in its output, Terminated must be true or false, not "true"/,
    );
    expect(outputError(() => parseDescribeEnclavesOutput("[1]")).field).toBe("[0]");
  });

  test("the JSON document is found after other lines, and its absence is a clear error", () => {
    // A line that merely looks like the start of a list is passed over.
    const noisy = `${fixture("run-enclave-insufficient-memory.stderr.txt")}${fixture("describe-enclaves-one.stdout.txt")}`;
    expect(parseDescribeEnclavesOutput(noisy)).toStrictEqual([DESCRIBED]);
    expect(outputError(() => parseRunEnclaveOutput(fixture("run-enclave.stderr.txt"))).message).toMatch(/^nitro-cli run-enclave: its output holds no JSON object;/);
    expect(outputError(() => parseDescribeEnclavesOutput(fixture("run-enclave.stdout.txt"))).message).toMatch(/its output holds no JSON list/);
    const truncated = fixture("run-enclave.stdout.txt").slice(0, 80);
    expect(outputError(() => parseRunEnclaveOutput(truncated)).message).toMatch(/its output holds no well-formed JSON object \(/);
    expect(outputError(() => parseRunEnclaveOutput(`${fixture("run-enclave.stdout.txt")}trailing words\n`)).message).toMatch(/no well-formed JSON object/);
  });

  test("output over 1 MiB is refused before it is parsed", () => {
    const enclave = fixture("describe-enclaves-one.stdout.txt").trim().slice(1, -1);
    const huge = `[${Array.from({ length: Math.ceil(MAX_NITRO_CLI_OUTPUT_BYTES / enclave.length) + 1 }, () => enclave).join(",")}]`;
    expect(huge.length).toBeGreaterThan(MAX_NITRO_CLI_OUTPUT_BYTES);
    expect(outputError(() => parseDescribeEnclavesOutput(huge)).message).toMatch(new RegExp(`its output is ${huge.length} bytes long; at most ${MAX_NITRO_CLI_OUTPUT_BYTES} are expected`));
    // The bound is in bytes: 2-byte characters count twice.
    const wide = `"${"é".repeat(MAX_NITRO_CLI_OUTPUT_BYTES / 2)}"`;
    expect(outputError(() => parseRunEnclaveOutput(wide)).message).toMatch(/bytes long/);
  });
});

// A stand-in for nitro-cli: prints the fixtures for each subcommand as nitro-cli
// would (stdout, stderr, exit status), records its argv, and keeps the enclaves
// that exist in a state file, so that terminate-enclave makes them disappear.
const FAKE_NITRO_CLI = (paths: { fixtures: string; state: string; argvLog: string }) => `#!${process.execPath}
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const paths = ${JSON.stringify(paths)};
const args = process.argv.slice(2);
fs.appendFileSync(paths.argvLog, JSON.stringify(args) + "\\n");
const state = JSON.parse(fs.readFileSync(paths.state, "utf8"));
const save = () => fs.writeFileSync(paths.state, JSON.stringify(state));
const print = (stream, file) => stream.write(fs.readFileSync(path.isAbsolute(file) ? file : path.join(paths.fixtures, file)));
switch (args[0]) {
  case "run-enclave":
    if (state.run === "ok") {
      print(process.stderr, "run-enclave.stderr.txt");
      print(process.stdout, "run-enclave.stdout.txt");
      state.enclaves = "describe-enclaves-one.stdout.txt";
      save();
    } else if (state.run === "insufficient-memory") {
      print(process.stderr, "run-enclave-insufficient-memory.stderr.txt");
      process.exitCode = 39;
    } else if (state.run === "progress-only") {
      print(process.stdout, "run-enclave.stderr.txt");
    } else if (state.run === "flood") {
      process.stdout.write("x".repeat(${2 * MAX_NITRO_CLI_OUTPUT_BYTES}));
    } else if (state.run === "killed") {
      process.kill(process.pid, "SIGKILL");
    } else if (state.run === "hang") {
      setTimeout(() => {}, 600000);
    }
    break;
  case "describe-enclaves":
    print(process.stdout, state.enclaves);
    break;
  case "terminate-enclave":
    if (args[1] === "--enclave-id" && args[2] === ${JSON.stringify(STRONGROOM_ID)} && state.enclaves === "describe-enclaves-one.stdout.txt") {
      print(process.stderr, "terminate-enclave.stderr.txt");
      print(process.stdout, "terminate-enclave.stdout.txt");
      state.enclaves = "describe-enclaves-none.stdout.txt";
      save();
    } else {
      print(process.stderr, "terminate-enclave-unknown.stderr.txt");
      process.exitCode = 11;
    }
    break;
  default:
    process.stderr.write("unknown subcommand\\n");
    process.exitCode = 2;
}
`;

describe("NitroEnclaveLifecycle against a fake nitro-cli", () => {
  let dir: string;
  let command: string;
  let statePath: string;
  let argvLog: string;
  let logs: Record<string, unknown>[];

  const setState = (state: { enclaves: string; run?: string }) => writeFile(statePath, JSON.stringify({ run: "ok", ...state }));
  const argvs = async () =>
    (await readFile(argvLog, "utf8"))
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as string[]);
  const lifecycle = (options: { run?: RunEnclaveOptions; command?: string; timeoutMs?: number } = {}) =>
    new NitroEnclaveLifecycle({
      command: options.command ?? command,
      run: options.run ?? RUN,
      timeoutMs: options.timeoutMs,
      log: pino({ level: "debug" }, { write: (line: string) => logs.push(JSON.parse(line) as Record<string, unknown>) }),
    });
  const rejection = async (promise: Promise<unknown>): Promise<NitroCliError> => {
    const error = await promise.then(
      () => undefined,
      (reason: unknown) => reason,
    );
    if (!(error instanceof NitroCliError)) throw new Error(`expected a NitroCliError, got ${String(error)}`);
    return error;
  };

  beforeAll(async () => {
    if (/\s/.test(process.execPath)) throw new Error(`the fake nitro-cli's #! line cannot hold ${process.execPath}, which has white space`);
    dir = await mkdtemp(join(tmpdir(), "strongroom-nitro-cli-"));
    command = join(dir, "nitro-cli");
    statePath = join(dir, "state.json");
    argvLog = join(dir, "argv.log");
    await writeFile(command, FAKE_NITRO_CLI({ fixtures: FIXTURES, state: statePath, argvLog }));
    await chmod(command, 0o755);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));
  beforeEach(async () => {
    logs = [];
    await writeFile(argvLog, "");
  });

  test("start, watch and stop one enclave; stopping again does nothing", async () => {
    await setState({ enclaves: "describe-enclaves-none.stdout.txt" });
    const enclave = lifecycle();
    expect(enclave.describe()).toBe("nitro enclave (none started)");
    expect(enclave.cid()).toBeUndefined();
    expect(await enclave.isRunning()).toBe(false);

    await enclave.start();
    expect(enclave.cid()).toBe(16);
    expect(enclave.describe()).toBe(`nitro enclave ${STRONGROOM_ID}`);
    expect(await enclave.isRunning()).toBe(true);

    await enclave.stop();
    expect(enclave.cid()).toBeUndefined();
    expect(await enclave.isRunning()).toBe(false);
    await enclave.stop();

    expect(await argvs()).toEqual([RUN_ARGV, ["describe-enclaves"], ["terminate-enclave", "--enclave-id", STRONGROOM_ID]]);
    expect(logs).toContainEqual(expect.objectContaining({ level: 30, msg: "nitro enclave started", enclaveId: STRONGROOM_ID, enclaveCid: 16, cpuIds: [1, 3] }));
    expect(logs).toContainEqual(
      expect.objectContaining({
        level: 20,
        subcommand: "run-enclave",
        stderr: ["Start allocating memory...", "Started enclave with enclave-cid: 16, memory: 4096 MiB, cpu-ids: [1, 3]"],
      }),
    );
    expect(logs).toContainEqual(expect.objectContaining({ level: 30, msg: "nitro enclave terminated", enclaveId: STRONGROOM_ID }));
  });

  test("an enclave that vanished is not running, and stopping it succeeds once describe-enclaves no longer lists it", async () => {
    await setState({ enclaves: "describe-enclaves-none.stdout.txt" });
    const enclave = lifecycle();
    await enclave.start();
    await setState({ enclaves: "describe-enclaves-none.stdout.txt" });
    expect(await enclave.isRunning()).toBe(false);
    await enclave.stop();
    expect(enclave.cid()).toBeUndefined();
    expect(await argvs()).toEqual([RUN_ARGV, ["describe-enclaves"], ["terminate-enclave", "--enclave-id", STRONGROOM_ID], ["describe-enclaves"]]);
    expect(logs).toContainEqual(expect.objectContaining({ msg: "nitro enclave was already gone", enclaveId: STRONGROOM_ID }));
  });

  test("a terminate-enclave that fails for an enclave still listed is an error", async () => {
    await setState({ enclaves: "describe-enclaves-none.stdout.txt" });
    const enclave = lifecycle();
    await enclave.start();
    // Listed (beside another enclave), yet terminate-enclave fails: it must not count as stopped.
    await setState({ enclaves: "describe-enclaves-two.stdout.txt" });
    const error = await rejection(enclave.stop());
    expect(error).toMatchObject({ reason: "exit-status", subcommand: "terminate-enclave", exitCode: 11, errorCodes: ["E11"] });
    expect(error.message).toMatch(/^nitro-cli terminate-enclave failed with exit code 11 \(E11\): \[ E11 \] Socket error\./);
    expect(enclave.cid()).toBe(16);
  });

  test("adopt finds the enclave by name, or the only one when no name is configured", async () => {
    const unnamed: RunEnclaveOptions = { eifPath: "/opt/strongroom/strongroom.eif", cpuCount: 2, memoryMiB: 4096 };

    await setState({ enclaves: "describe-enclaves-two.stdout.txt" });
    const named = lifecycle();
    expect(await named.adopt()).toBe(true);
    expect(named.cid()).toBe(16);
    expect(named.describe()).toBe(`nitro enclave ${STRONGROOM_ID}`);
    expect(await named.isRunning()).toBe(true);
    expect(logs).toContainEqual(expect.objectContaining({ msg: "adopted a running nitro enclave", enclaveId: STRONGROOM_ID, enclaveName: "strongroom" }));
    await expect(lifecycle({ run: unnamed }).adopt()).rejects.toThrow(
      `nitro-cli lists 2 running enclaves (${SAMPLE_ID}, ${STRONGROOM_ID}) and no enclave name is configured`,
    );
    expect(await lifecycle({ run: { ...RUN, enclaveName: "other" } }).adopt()).toBe(false);

    await setState({ enclaves: "describe-enclaves-one.stdout.txt" });
    const only = lifecycle({ run: unnamed });
    expect(await only.adopt()).toBe(true);
    expect(only.cid()).toBe(16);

    await setState({ enclaves: "describe-enclaves-none.stdout.txt" });
    const none = lifecycle();
    expect(await none.adopt()).toBe(false);
    expect(none.cid()).toBeUndefined();
    expect((await argvs()).every((argv) => argv.length === 1 && argv[0] === "describe-enclaves")).toBe(true);
  });

  test("an enclave that is terminating is neither adopted nor running", async () => {
    const terminating = join(dir, "describe-terminating.txt");
    await writeFile(terminating, describedWith((enclave) => (enclave.State = "TERMINATING")));
    await setState({ enclaves: "describe-enclaves-one.stdout.txt" });
    const enclave = lifecycle();
    expect(await enclave.adopt()).toBe(true);
    await setState({ enclaves: terminating });
    expect(await enclave.isRunning()).toBe(false);
    expect(await lifecycle().adopt()).toBe(false);
  });

  test("a failed run-enclave says the subcommand, the exit code and nitro-cli's error", async () => {
    await setState({ enclaves: "describe-enclaves-none.stdout.txt", run: "insufficient-memory" });
    const enclave = lifecycle({ run: { ...RUN, memoryMiB: 256 } });
    const error = await rejection(enclave.start());
    expect(error).toMatchObject({ reason: "exit-status", subcommand: "run-enclave", exitCode: 39, errorCodes: ["E26", "E39"] });
    expect(error.message).toBe(
      "nitro-cli run-enclave failed with exit code 39 (E26, E39): " +
        "[ E26 ] Insufficient memory requested. User provided `memory` is 256 MB, but based on the EIF file size, the minimum memory should be 1168 MB" +
        " | For more details, please visit https://docs.aws.amazon.com/enclaves/latest/user/cli-errors.html#E26" +
        ' | If you open a support ticket, please provide the error log found at "/var/log/nitro_enclaves/err2025-03-14T09:26:53.447913204+00:00.log"',
    );
    expect(error.stderr).toBe(fixture("run-enclave-insufficient-memory.stderr.txt"));
    expect(enclave.cid()).toBeUndefined();
    expect(await argvs()).toEqual([[...RUN_ARGV.slice(0, 6), "256", ...RUN_ARGV.slice(7)]]);
  });

  test("a run-enclave that prints no JSON is an error that says an enclave may be running", async () => {
    await setState({ enclaves: "describe-enclaves-none.stdout.txt", run: "progress-only" });
    const enclave = lifecycle();
    await expect(enclave.start()).rejects.toThrow(/^nitro-cli run-enclave: its output holds no JSON object;.* An enclave may have started all the same/);
    expect(enclave.cid()).toBeUndefined();
  });

  test("no nitro-cli: the error says how to install it or where to point", async () => {
    const missing = join(dir, "no-such-nitro-cli");
    const error = await rejection(lifecycle({ command: missing }).start());
    expect(error.reason).toBe("not-found");
    expect(error.message).toBe(
      `nitro-cli not found: install aws-nitro-enclaves-cli (see the README's Nitro deployment steps) or give --nitro-cli PATH (tried ${JSON.stringify(missing)})`,
    );
  });

  test("a nitro-cli that cannot be executed is a spawn failure", async () => {
    const notExecutable = join(dir, "not-executable");
    await writeFile(notExecutable, "#!/bin/sh\n", { mode: 0o644 });
    const error = await rejection(lifecycle({ command: notExecutable }).adopt());
    expect(error.reason).toBe("spawn");
    expect(error.message).toMatch(/^cannot run ".*not-executable" for nitro-cli describe-enclaves: .*EACCES/);
  });

  test("a nitro-cli that hangs is killed at the deadline", async () => {
    await setState({ enclaves: "describe-enclaves-none.stdout.txt", run: "hang" });
    const error = await rejection(lifecycle({ timeoutMs: 1_000 }).start());
    expect(error.reason).toBe("timeout");
    expect(error.message).toBe(
      "nitro-cli run-enclave did not finish within 1000 ms and was killed; the enclave it was starting may still come up (see `nitro-cli describe-enclaves`)",
    );
  });

  test("a nitro-cli that prints without end is killed past 1 MiB", async () => {
    await setState({ enclaves: "describe-enclaves-none.stdout.txt", run: "flood" });
    const error = await rejection(lifecycle().start());
    expect(error.reason).toBe("output-too-large");
    expect(error.message).toBe(`nitro-cli run-enclave printed more than ${MAX_NITRO_CLI_OUTPUT_BYTES} bytes and was killed`);
  });

  test("a nitro-cli killed by a signal says so", async () => {
    await setState({ enclaves: "describe-enclaves-none.stdout.txt", run: "killed" });
    const error = await rejection(lifecycle().start());
    expect(error).toMatchObject({ reason: "signal", signal: "SIGKILL", exitCode: undefined });
    expect(error.message).toBe("nitro-cli run-enclave was killed by SIGKILL");
  });

  test("invalid run options fail when the lifecycle is made, not at the first start", () => {
    expect(() => lifecycle({ run: { ...RUN, cpuCount: 0 } })).toThrow(/^cpuCount \(--cpu-count\)/);
    expect(() => lifecycle({ timeoutMs: 0 })).toThrow(/^timeoutMs must be/);
  });
});
