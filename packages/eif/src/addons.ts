// The native code the bundled program loads, which esbuild cannot bundle:
// @strongroom/nitro's addon (node-gyp's build, placed beside the bundle where
// the bundle looks for it) and @chainsafe/blst (left external by bundle.ts and
// copied as a package under node_modules: its entry point, its manifest and
// the prebuilt binding of this platform, found as Node.js finds them).
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { EXTERNAL_PACKAGES, NITRO_ADDON_FILE, type ProgramFile } from "./bundle.ts";

/** A file for the program directory, and whether it is native code (an ELF whose libraries the image needs). */
export interface AddonFile extends ProgramFile {
  readonly native: boolean;
  /** Where it came from, for messages. */
  readonly source: string;
}

const NITRO_ADDON = "packages/nitro/build/Release/strongroom_nitro.node";
/** The package whose dependency on the external packages decides which copy is used (the one its code imports). */
const IMPORTING_PACKAGE = "packages/keystore/package.json";

function read(source: string, path: string, native: boolean): AddonFile {
  return { path, content: new Uint8Array(readFileSync(source)), native, source };
}

/** The files of an external package: package.json, its main file, and each native file its main file requires by package name. */
function externalPackage(name: string, require: NodeJS.Require): AddonFile[] {
  const manifestPath = require.resolve(`${name}/package.json`);
  const directory = dirname(manifestPath);
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as { main?: string; optionalDependencies?: Record<string, string> };
  const main = join(directory, manifest.main ?? "index.js");
  const files = [read(manifestPath, `node_modules/${name}/package.json`, false), read(main, `node_modules/${name}/${relative(directory, main)}`, false)];
  // napi-rs packages ship each platform's binding as an optional dependency; only this platform's is installed.
  const own = createRequire(manifestPath);
  for (const binding of Object.keys(manifest.optionalDependencies ?? {}).sort()) {
    let bindingManifest: string;
    try {
      bindingManifest = own.resolve(`${binding}/package.json`);
    } catch {
      continue;
    }
    const bindingDirectory = dirname(bindingManifest);
    const bindingMain = join(bindingDirectory, (JSON.parse(readFileSync(bindingManifest, "utf8")) as { main?: string }).main ?? "index.js");
    files.push(read(bindingManifest, `node_modules/${binding}/package.json`, false), read(bindingMain, `node_modules/${binding}/${relative(bindingDirectory, bindingMain)}`, true));
  }
  if (!files.some((file) => file.native)) throw new Error(`${name} has no native binding installed for this platform under ${directory}; run \`npm ci\` on the machine (Linux, glibc) the image is built on`);
  return files;
}

/** The native files the bundle loads, with their paths in the program directory. */
export function addonFiles(checkout: string): AddonFile[] {
  const nitro = join(checkout, NITRO_ADDON);
  if (!existsSync(nitro)) throw new Error(`the native addon ${nitro} is not built; run \`make install\` (npm ci builds it with node-gyp)`);
  const require = createRequire(join(checkout, IMPORTING_PACKAGE));
  return [read(nitro, NITRO_ADDON_FILE, true), ...EXTERNAL_PACKAGES.flatMap((name) => externalPackage(name, require))];
}
