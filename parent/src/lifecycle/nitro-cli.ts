// nitro-cli's command lines and JSON output, as pure functions: nitro.ts runs
// the commands, this module knows their shape. The output formats are those of
// aws-nitro-enclaves-cli (its EnclaveRunInfo, EnclaveDescribeInfo and
// EnclaveTerminateInfo): PascalCase fields, pretty-printed, on stdout, while
// progress lines ("Start allocating memory...") and errors go to stderr.

/** nitro-cli prints a few KiB at most; more than this is refused unread. */
export const MAX_NITRO_CLI_OUTPUT_BYTES = 1024 * 1024;
/** Lowest CID nitro-cli accepts for an enclave: 0–2 are the hypervisor, loopback and host, 3 is the parent instance. */
export const MIN_ENCLAVE_CID = 4;
/** Highest CID nitro-cli accepts for an enclave: CIDs are 32 bits and 2^32−1 is VMADDR_CID_ANY. */
export const MAX_ENCLAVE_CID = 0xffff_fffe;
/** The Nitro Enclaves driver's minimum; nitro-cli also wants at least the EIF's unpacked size (its error E26). */
export const MIN_ENCLAVE_MEMORY_MIB = 64;

const MAX_U32 = 0xffff_ffff;
const MAX_ENCLAVE_NAME_LENGTH = 128;
/** `<instance id>-enc<slot>`: nitro-cli joins the instance's id (i-0000000000000000 off EC2) and its slot number in hex. */
const ENCLAVE_ID = /^i-[0-9a-f]{1,32}-enc[0-9a-f]{1,16}$/;
/** nitro-cli prints PCRs as lowercase hex: 96 digits for today's SHA-384. */
const PCR_HEX = /^(?:[0-9a-f]{2}){32,64}$/;
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;
/** Lines that begin like the document but are not it (a log line such as "[ E26 ] …") are skipped; this many tries at most. */
const MAX_JSON_CANDIDATES = 16;

export interface RunEnclaveOptions {
  /** The enclave image file. */
  eifPath: string;
  /**
   * vCPUs for the enclave, at least 1. Enclaves get whole cores, so on a host
   * with hyperthreading nitro-cli refuses an odd count; not checked here,
   * because a Graviton host (one thread per core) takes any count.
   */
  cpuCount: number;
  /** At least 64 MiB, and at least what the EIF needs unpacked; nitro-cli may allocate more (whole huge pages). */
  memoryMiB: number;
  /** The enclave's vsock CID, 4 to 4294967294; nitro-cli picks one (usually 16) when absent. */
  enclaveCid?: number;
  /** Debug mode: a readable console, and PCR0–2 attested as zeros, which aTLS clients refuse unless allowed. */
  debugMode?: boolean;
  /** The name adopt() looks for after a parent restart; nitro-cli defaults to the EIF's file name and appends "_1" when a name is taken. */
  enclaveName?: string;
}

/** The image measurements describe-enclaves prints; PCR8 only for a signed image. */
export type EnclaveMeasurements = Record<"HashAlgorithm" | "PCR0" | "PCR1" | "PCR2", string> & { PCR8?: string };

/** One enclave as run-enclave (no state, flags or measurements) or describe-enclaves reports it. */
export interface EnclaveDescription {
  enclaveName?: string;
  enclaveId: string;
  /** The nitro-cli enclave process that holds the enclave's resources. */
  processId: number;
  enclaveCid: number;
  numberOfCpus: number;
  cpuIds: number[];
  memoryMiB: number;
  /** "RUNNING", "TERMINATING" (or "EMPTY" in a brief window). */
  state?: string;
  /** "NONE", or "DEBUG_MODE". */
  flags?: string;
  measurements?: EnclaveMeasurements;
}

export interface EnclaveTermination {
  enclaveId: string;
  terminated: boolean;
}

/** nitro-cli printed something this parent cannot use; `field` names the part at fault, as `[1].EnclaveCID`. */
export class NitroCliOutputError extends Error {
  override readonly name = "NitroCliOutputError";
  readonly subcommand: string;
  readonly field: string | undefined;

  constructor(subcommand: string, field: string | undefined, problem: string) {
    super(`nitro-cli ${subcommand}: ${field === undefined ? "its output" : `in its output, ${field}`} ${problem}; is this the AWS nitro-cli (\`nitro-cli --version\`)?`);
    this.subcommand = subcommand;
    this.field = field;
  }
}

/** `run-enclave …` for `options`; throws RangeError naming the option (and its flag) that nitro-cli would refuse. */
export function runEnclaveArgs(options: RunEnclaveOptions): string[] {
  const args = [
    "run-enclave",
    "--eif-path",
    argumentText(options.eifPath, "eifPath (--eif-path)", Number.POSITIVE_INFINITY),
    "--cpu-count",
    String(wholeNumber(options.cpuCount, "cpuCount (--cpu-count)", 1, MAX_U32, "vCPUs")),
    "--memory",
    String(wholeNumber(options.memoryMiB, "memoryMiB (--memory)", MIN_ENCLAVE_MEMORY_MIB, Number.MAX_SAFE_INTEGER, "MiB")),
  ];
  if (options.enclaveCid !== undefined) {
    if (options.enclaveCid === 0) throw new RangeError("enclaveCid (--enclave-cid) 0 asks nitro-cli to choose one: leave enclaveCid out instead");
    args.push("--enclave-cid", String(wholeNumber(options.enclaveCid, "enclaveCid (--enclave-cid)", MIN_ENCLAVE_CID, MAX_ENCLAVE_CID, "")));
  }
  if (options.debugMode === true) args.push("--debug-mode");
  if (options.enclaveName !== undefined) args.push("--enclave-name", argumentText(options.enclaveName, "enclaveName (--enclave-name)", MAX_ENCLAVE_NAME_LENGTH));
  return args;
}

export function describeEnclavesArgs(): string[] {
  return ["describe-enclaves"];
}

/** `terminate-enclave --enclave-id <id>`; throws RangeError unless the id has nitro-cli's shape. */
export function terminateEnclaveArgs(enclaveId: string): string[] {
  if (!isEnclaveId(enclaveId)) {
    throw new RangeError(`enclave id ${quote(enclaveId)} is not of the form i-<hex>-enc<hex> that nitro-cli prints (i-0123456789abcdef0-enc18f2b7c3d4e5a6b)`);
  }
  return ["terminate-enclave", "--enclave-id", enclaveId];
}

export function isEnclaveId(value: string): boolean {
  return ENCLAVE_ID.test(value);
}

/** The enclave run-enclave started. */
export function parseRunEnclaveOutput(stdout: string): EnclaveDescription {
  return readEnclave("run-enclave", findJsonDocument("run-enclave", stdout, "{"), "", false);
}

/** Every enclave describe-enclaves lists (of this user, or all when run as root). */
export function parseDescribeEnclavesOutput(stdout: string): EnclaveDescription[] {
  // JSON text that starts with "[" is a list.
  const list = findJsonDocument("describe-enclaves", stdout, "[") as unknown[];
  return list.map((entry, index) => readEnclave("describe-enclaves", entry, `[${index}]`, true));
}

export function parseTerminateEnclaveOutput(stdout: string): EnclaveTermination {
  const subcommand = "terminate-enclave";
  const object = asObject(subcommand, findJsonDocument(subcommand, stdout, "{"), undefined);
  const terminated = object.Terminated;
  if (typeof terminated !== "boolean") fail(subcommand, "Terminated", `must be true or false${got(terminated)}`);
  return { enclaveId: readEnclaveId(subcommand, object.EnclaveID, "EnclaveID"), terminated };
}

/**
 * The JSON document in nitro-cli's output: from the first line that opens
 * one (`opener`) to the end. Anything before it, such as progress lines that
 * reach stdout when stderr is merged into it, is skipped.
 */
function findJsonDocument(subcommand: string, output: string, opener: "{" | "["): unknown {
  const bytes = Buffer.byteLength(output, "utf8");
  if (bytes > MAX_NITRO_CLI_OUTPUT_BYTES) fail(subcommand, undefined, `is ${bytes} bytes long; at most ${MAX_NITRO_CLI_OUTPUT_BYTES} are expected`);
  let tries = 0;
  let lastError: Error | undefined;
  for (let lineStart = 0; lineStart < output.length && tries < MAX_JSON_CANDIDATES; ) {
    let first = lineStart;
    while (output[first] === " " || output[first] === "\t") first++;
    if (output[first] === opener) {
      tries++;
      try {
        return JSON.parse(output.slice(first));
      } catch (error) {
        lastError = error as Error;
      }
    }
    const newline = output.indexOf("\n", lineStart);
    if (newline === -1) break;
    lineStart = newline + 1;
  }
  const what = opener === "{" ? "JSON object" : "JSON list";
  fail(subcommand, undefined, lastError === undefined ? `holds no ${what}` : `holds no well-formed ${what} (${lastError.message})`);
}

function readEnclave(subcommand: string, value: unknown, path: string, described: boolean): EnclaveDescription {
  const object = asObject(subcommand, value, path === "" ? undefined : path);
  const at = (name: string) => (path === "" ? name : `${path}.${name}`);
  const enclave: EnclaveDescription = {
    enclaveId: readEnclaveId(subcommand, object.EnclaveID, at("EnclaveID")),
    processId: readInteger(subcommand, object.ProcessID, at("ProcessID"), 1, MAX_U32),
    enclaveCid: readInteger(subcommand, object.EnclaveCID, at("EnclaveCID"), MIN_ENCLAVE_CID, MAX_ENCLAVE_CID),
    numberOfCpus: readInteger(subcommand, object.NumberOfCPUs, at("NumberOfCPUs"), 1, MAX_U32),
    cpuIds: readCpuIds(subcommand, object.CPUIDs, at("CPUIDs")),
    memoryMiB: readInteger(subcommand, object.MemoryMiB, at("MemoryMiB"), 1, Number.MAX_SAFE_INTEGER),
  };
  if (object.EnclaveName !== undefined) enclave.enclaveName = readString(subcommand, object.EnclaveName, at("EnclaveName"));
  if (described) {
    enclave.state = readString(subcommand, object.State, at("State"));
    enclave.flags = readString(subcommand, object.Flags, at("Flags"));
    const measurements = object.Measurements === undefined ? undefined : readMeasurements(subcommand, object.Measurements, at("Measurements"));
    if (measurements !== undefined) enclave.measurements = measurements;
  }
  return enclave;
}

function readEnclaveId(subcommand: string, id: unknown, field: string): string {
  if (typeof id !== "string" || !isEnclaveId(id)) fail(subcommand, field, `must be an enclave id such as i-0123456789abcdef0-enc18f2b7c3d4e5a6b${got(id)}`);
  return id;
}

function readCpuIds(subcommand: string, value: unknown, field: string): number[] {
  if (!Array.isArray(value)) fail(subcommand, field, `must be a list of CPU numbers${got(value)}`);
  return value.map((cpu, index) => readInteger(subcommand, cpu, `${field}[${index}]`, 0, MAX_U32));
}

/** undefined for `{}`, which nitro-cli prints for an enclave whose image it has not measured. */
function readMeasurements(subcommand: string, value: unknown, field: string): EnclaveMeasurements | undefined {
  const object = asObject(subcommand, value, field);
  if (Object.keys(object).length === 0) return undefined;
  const pcr = (name: string) => {
    const hex = object[name];
    if (typeof hex !== "string" || !PCR_HEX.test(hex)) fail(subcommand, `${field}.${name}`, `must be lowercase hex (96 digits for SHA-384)${got(hex)}`);
    return hex;
  };
  const measurements: EnclaveMeasurements = {
    HashAlgorithm: readString(subcommand, object.HashAlgorithm, `${field}.HashAlgorithm`),
    PCR0: pcr("PCR0"),
    PCR1: pcr("PCR1"),
    PCR2: pcr("PCR2"),
  };
  if (object.PCR8 !== undefined) measurements.PCR8 = pcr("PCR8");
  return measurements;
}

function asObject(subcommand: string, value: unknown, field: string | undefined): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail(subcommand, field, `must be a JSON object${got(value)}`);
  return value as Record<string, unknown>;
}

function readInteger(subcommand: string, value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    fail(subcommand, field, `must be a whole number from ${min} to ${max}${got(value)}`);
  }
  return value;
}

function readString(subcommand: string, value: unknown, field: string): string {
  if (typeof value !== "string" || value === "") fail(subcommand, field, `must be a non-empty string${got(value)}`);
  return value;
}

function fail(subcommand: string, field: string | undefined, problem: string): never {
  throw new NitroCliOutputError(subcommand, field, problem);
}

/** A value for a flag: passed as one argv entry (no shell), but nitro-cli would read a leading "-" as a flag of its own. */
function argumentText(value: string, option: string, maxLength: number): string {
  if (typeof value !== "string" || value === "") throw new RangeError(`${option} must be a non-empty string${got(value)}`);
  if (value.startsWith("-")) throw new RangeError(`${option} ${quote(value)} starts with "-", which nitro-cli would take for a flag; write ./${value} for a path`);
  if (CONTROL_CHARACTERS.test(value)) throw new RangeError(`${option} ${quote(value)} contains control characters`);
  if (value.length > maxLength) throw new RangeError(`${option} is ${value.length} characters long; at most ${maxLength} are allowed`);
  return value;
}

function wholeNumber(value: number, option: string, min: number, max: number, unit: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`${option} must be a whole number${unit === "" ? "" : ` of ${unit}`} from ${min} to ${max}${got(value)}`);
  }
  return value;
}

/** What an unexpected value was, as the end of an error message: `, not "16"`, or `, but it is missing`. */
function got(value: unknown): string {
  if (value === undefined) return ", but it is missing";
  if (Array.isArray(value)) return ", not a list";
  if (value !== null && typeof value === "object") return ", not an object";
  return `, not ${quote(value)}`;
}

function quote(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
