/**
 * The parent's own AWS credentials, which it forwards to the enclave: sources (environment, the
 * container endpoint, IMDSv2) and a refresher that replaces them before they expire.
 */
export { AwsCredentials, InvalidCredentialsError, SESSION_TOKEN_MAX_LENGTH, type AwsCredentialFields, type CredentialSourceName, type CredentialSummary } from "./credentials.ts";
export { CredentialSourceError, type CredentialFailure } from "./http.ts";
export { parseCredentialDocument } from "./document.ts";
export {
  ImdsClient,
  imdsCredentialSource,
  imdsEndpointFromEnvironment,
  IMDS_IPV4_ENDPOINT,
  IMDS_IPV6_ENDPOINT,
  IMDS_TOKEN_TTL_MAX_SECONDS,
  type ImdsOptions,
} from "./imds.ts";
export {
  containerCredentialSource,
  environmentCredentialSource,
  selectCredentialSource,
  CREDENTIAL_SOURCE_CHOICES,
  type ContainerOptions,
  type CredentialSource,
  type CredentialSourceChoice,
  type SelectOptions,
} from "./source.ts";
export {
  CredentialRefresher,
  DEFAULT_MAX_RETRY_MS,
  DEFAULT_MIN_RETRY_MS,
  DEFAULT_REFRESH_BEFORE_MS,
  type CredentialRefresherOptions,
  type CredentialState,
  type CredentialStatus,
} from "./refresher.ts";
