export { startKmsSimulator, type KmsCredentialLookup, type KmsSimulator, type KmsSimulatorOptions } from "./server.ts";
export { STATE_FILE as KMS_STATE_FILE } from "./state.ts";
