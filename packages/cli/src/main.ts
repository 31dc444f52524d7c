#!/usr/bin/env node
import { runCli } from "./cli.ts";

// Output to a reader that went away (a closed pipe) must not crash a signer or a parent mid-shutdown.
for (const stream of [process.stdout, process.stderr]) stream.on("error", () => {});

// A process started by `strongroom sim` ends with it, however it ends: the simulation holds this
// process's stdin open and the operating system closes it when the simulation exits.
if (process.env["STRONGROOM_EXIT_WITH_STDIN"] === "1") {
  process.stdin.once("close", () => process.kill(process.pid, "SIGTERM"));
  process.stdin.resume();
}

process.exitCode = await runCli(process.argv.slice(2), process.env);
