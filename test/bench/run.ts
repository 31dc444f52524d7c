// `make bench`: runs every benchmark in its own process (so each has the whole
// machine) and prints their JSON results as one JSON array on stdout.
// `make bench BENCH=sign-core` runs one.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const only = process.env["BENCH"];
const benches = readdirSync(here)
  .filter((f) => f.endsWith(".ts") && f !== "run.ts")
  .filter((f) => only === undefined || f === `${only}.ts`);

const results: unknown[] = [];
for (const file of benches) {
  process.stderr.write(`bench: running ${file}\n`);
  const run = spawnSync(process.execPath, ["--conditions=strongroom-source", "--no-warnings", `${here}${file}`], {
    stdio: ["ignore", "pipe", "inherit"],
    encoding: "utf8",
    maxBuffer: 16 << 20,
  });
  const lastLine = run.stdout.trim().split("\n").at(-1) ?? "";
  try {
    results.push(JSON.parse(lastLine));
  } catch {
    results.push({ name: file.replace(/\.ts$/, ""), error: `exit ${run.status}; no JSON result` });
  }
}
console.log(JSON.stringify(results, null, 2));
