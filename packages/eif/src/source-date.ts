// The one time an image carries (file times in its ramdisks, its metadata's
// build time): SOURCE_DATE_EPOCH (https://reproducible-builds.org/specs/source-date-epoch/),
// or the time of the checkout's last commit, so that building the same commit
// again, anywhere, gives the same bytes.
import { execFileSync } from "node:child_process";

/** Seconds since 1970; throws saying what to set when neither SOURCE_DATE_EPOCH nor git gives one. */
export function sourceDateEpoch(env: NodeJS.ProcessEnv, checkout: string): number {
  const given = env["SOURCE_DATE_EPOCH"];
  if (given !== undefined) {
    if (!/^\d{1,10}$/.test(given) || Number(given) > 0xffff_ffff) throw new Error(`SOURCE_DATE_EPOCH=${JSON.stringify(given).slice(0, 40)} is not a Unix time in seconds (e.g. \`git log -1 --format=%ct\`)`);
    return Number(given);
  }
  let output: string;
  try {
    output = execFileSync("git", ["log", "-1", "--format=%ct"], { cwd: checkout, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    throw new Error(`SOURCE_DATE_EPOCH is not set and ${checkout} is not a git checkout (or git is not installed); set SOURCE_DATE_EPOCH to the Unix time the image should carry, such as its commit's \`git log -1 --format=%ct\``);
  }
  const seconds = output.trim();
  if (!/^\d+$/.test(seconds)) throw new Error(`git log gave no commit time in ${checkout} (${JSON.stringify(seconds).slice(0, 40)}); set SOURCE_DATE_EPOCH`);
  return Number(seconds);
}
