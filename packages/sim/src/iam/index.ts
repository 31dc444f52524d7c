export { SimulatedCredentialStore, type IssuedCredentials, type SimulatedCredentialStoreOptions } from "./credential-store.ts";
