#!/usr/bin/env node
// The enclave image's program (bundled by packages/eif): `strongroom enclave`
// and nothing else, so that the image carries the signing core without the
// parent, the simulator, the gateway or the operator commands. Its arguments
// are the enclave command's: `node enclave.js --mode=nitro …`.
import { ENCLAVE_COMMAND } from "./commands/enclave.ts";
import { dispatch } from "./dispatch.ts";

// Output to a console that went away must not crash the signer.
for (const stream of [process.stdout, process.stderr]) stream.on("error", () => {});

process.exitCode = await dispatch("strongroom", { enclave: ENCLAVE_COMMAND }, ["enclave", ...process.argv.slice(2)], process.env);
