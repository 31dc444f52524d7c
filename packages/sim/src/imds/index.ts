export {
  DEFAULT_CREDENTIAL_LIFETIME_MS,
  DEFAULT_ROTATE_BEFORE_MS,
  ImdsSimulator,
  type ImdsFault,
  type ImdsRequestRecord,
  type ImdsSimulatorOptions,
} from "./server.ts";
