// The metadata section of a version 4 EIF: JSON of aws-nitro-enclaves-image-format's
// EifIdentityInfo (src/defs/mod.rs), which nitro-cli's describe-eif reads with serde_json and
// refuses when a field is missing or has the wrong type. It is not measured by any PCR.

export interface EifBuildInfo {
  /** "BuildTime": AWS writes the build instant in RFC 3339; a reproducible build writes SOURCE_DATE_EPOCH's. */
  readonly buildTime: string;
  readonly buildTool: string;
  readonly buildToolVersion: string;
  /** "OperatingSystem", e.g. "Linux". */
  readonly operatingSystem: string;
  /** "KernelVersion", e.g. "6.1.102". */
  readonly kernelVersion: string;
}

export interface EifIdentityInfo {
  readonly imageName: string;
  readonly imageVersion: string;
  readonly buildInfo: EifBuildInfo;
  /** "DockerInfo": any JSON (nitro-cli puts `docker inspect` output here). */
  readonly dockerInfo: unknown;
  /** "CustomMetadata": any JSON. */
  readonly customInfo: unknown;
}

/** Far above what nitro-cli writes (its custom metadata file may be 4 KiB); a bound for hostile input. */
export const MAX_METADATA_BYTES = 1024 * 1024;

/**
 * The metadata section as serde_json writes EifIdentityInfo: compact, fields in AWS's order.
 * Object keys inside DockerInfo and CustomMetadata are sorted by their UTF-8 bytes, as serde_json's
 * default map does, so the bytes do not depend on the order a caller built its objects in.
 */
export function encodeEifMetadata(info: EifIdentityInfo): Uint8Array {
  const build = info?.buildInfo;
  if (typeof build !== "object" || build === null) throw new Error("EIF metadata buildInfo must be an object");
  const members: [string, string][] = [
    ["ImageName", text(info.imageName, "imageName")],
    ["ImageVersion", text(info.imageVersion, "imageVersion")],
    [
      "BuildMetadata",
      jsonObject([
        ["BuildTime", text(build.buildTime, "buildInfo.buildTime")],
        ["BuildTool", text(build.buildTool, "buildInfo.buildTool")],
        ["BuildToolVersion", text(build.buildToolVersion, "buildInfo.buildToolVersion")],
        ["OperatingSystem", text(build.operatingSystem, "buildInfo.operatingSystem")],
        ["KernelVersion", text(build.kernelVersion, "buildInfo.kernelVersion")],
      ]),
    ],
    ["DockerInfo", sortedJson(info.dockerInfo, "dockerInfo")],
    ["CustomMetadata", sortedJson(info.customInfo, "customInfo")],
  ];
  const bytes = Buffer.from(jsonObject(members), "utf8");
  if (bytes.length > MAX_METADATA_BYTES) throw new Error(`the EIF metadata is ${bytes.length} bytes; at most ${MAX_METADATA_BYTES} are allowed`);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Reads a metadata section, checking the shape nitro-cli's reader requires. */
export function decodeEifMetadata(bytes: Uint8Array): EifIdentityInfo {
  if (bytes.length > MAX_METADATA_BYTES) throw new Error(`the EIF metadata section is ${bytes.length} bytes; at most ${MAX_METADATA_BYTES} are allowed`);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    throw new Error(`the EIF metadata section is not UTF-8 JSON (${(error as Error).message})`);
  }
  const root = object(value, "the EIF metadata");
  const field = (from: Record<string, unknown>, key: string, where: string): string => {
    const v = from[key];
    if (typeof v !== "string") throw new Error(`the EIF metadata's ${where}"${key}" is ${v === undefined ? "missing" : "not a string"}`);
    return v;
  };
  const json = (key: string): unknown => {
    if (!Object.hasOwn(root, key)) throw new Error(`the EIF metadata's "${key}" is missing`);
    return root[key];
  };
  const imageName = field(root, "ImageName", "");
  const imageVersion = field(root, "ImageVersion", "");
  const build = object(root.BuildMetadata, 'the EIF metadata\'s "BuildMetadata"');
  return {
    imageName,
    imageVersion,
    buildInfo: {
      buildTime: field(build, "BuildTime", "BuildMetadata."),
      buildTool: field(build, "BuildTool", "BuildMetadata."),
      buildToolVersion: field(build, "BuildToolVersion", "BuildMetadata."),
      operatingSystem: field(build, "OperatingSystem", "BuildMetadata."),
      kernelVersion: field(build, "KernelVersion", "BuildMetadata."),
    },
    dockerInfo: json("DockerInfo"),
    customInfo: json("CustomMetadata"),
  };
}

/** The JSON text of a string. */
function text(value: unknown, name: string): string {
  if (typeof value !== "string") throw new Error(`EIF metadata ${name} must be a string`);
  return JSON.stringify(value);
}

/** `{"key":value,…}` from members whose values are JSON text already, in the given order. */
function jsonObject(members: readonly (readonly [string, string])[]): string {
  return `{${members.map(([key, value]) => `${JSON.stringify(key)}:${value}`).join(",")}}`;
}

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error(`${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

const byUtf8 = (a: string, b: string): number => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));

/**
 * The compact JSON text of a value with every object's keys in UTF-8 byte order (JSON.stringify
 * would put integer-like keys first); refuses what JSON cannot carry.
 */
function sortedJson(value: unknown, name: string): string {
  if (value === null || typeof value === "string" || typeof value === "boolean") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new Error(`EIF metadata ${name} holds ${value}, which JSON cannot carry`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((item, i) => sortedJson(item, `${name}[${i}]`)).join(",")}]`;
  if (typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    const record = value as Record<string, unknown>;
    return jsonObject(Object.keys(record).sort(byUtf8).map((key) => [key, sortedJson(record[key], `${name}.${key}`)]));
  }
  throw new Error(`EIF metadata ${name} holds a ${typeof value === "object" ? "non-plain object" : typeof value}; give JSON values only (null, booleans, numbers, strings, arrays, plain objects)`);
}
