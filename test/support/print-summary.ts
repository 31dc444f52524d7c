// Prints vitest's JSON report as one plain closing line, "N passed, N failed", that any CI reader understands.
import { readFileSync } from "node:fs";

const path = process.argv[2] ?? ".vitest-report.json";
try {
  const report = JSON.parse(readFileSync(path, "utf8")) as { numPassedTests: number; numFailedTests: number; numPendingTests: number };
  console.log(`tests: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${report.numPendingTests} skipped`);
} catch {
  console.log("tests: 0 passed, 1 failed (no test report was written)");
}
