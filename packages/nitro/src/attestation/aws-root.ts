// The AWS Nitro Enclaves Root G1 certificate, which every production
// attestation document chains to (https://aws-nitro-enclaves.amazonaws.com/AWS_NitroEnclaves_Root-G1.zip).
// Valid 2019-10-28 to 2049-10-28. Its fingerprint is checked when this module
// loads, so an edited copy cannot be trusted silently.
import { createHash } from "node:crypto";
import { pemToDer } from "../x509/pem.ts";

export const AWS_NITRO_ENCLAVES_ROOT_G1_PEM = `-----BEGIN CERTIFICATE-----
MIICETCCAZagAwIBAgIRAPkxdWgbkK/hHUbMtOTn+FYwCgYIKoZIzj0EAwMwSTEL
MAkGA1UEBhMCVVMxDzANBgNVBAoMBkFtYXpvbjEMMAoGA1UECwwDQVdTMRswGQYD
VQQDDBJhd3Mubml0cm8tZW5jbGF2ZXMwHhcNMTkxMDI4MTMyODA1WhcNNDkxMDI4
MTQyODA1WjBJMQswCQYDVQQGEwJVUzEPMA0GA1UECgwGQW1hem9uMQwwCgYDVQQL
DANBV1MxGzAZBgNVBAMMEmF3cy5uaXRyby1lbmNsYXZlczB2MBAGByqGSM49AgEG
BSuBBAAiA2IABPwCVOumCMHzaHDimtqQvkY4MpJzbolL//Zy2YlES1BR5TSksfbb
48C8WBoyt7F2Bw7eEtaaP+ohG2bnUs990d0JX28TcPQXCEPZ3BABIeTPYwEoCWZE
h8l5YoQwTcU/9KNCMEAwDwYDVR0TAQH/BAUwAwEB/zAdBgNVHQ4EFgQUkCW1DdkF
R+eWw5b6cp3PmanfS5YwDgYDVR0PAQH/BAQDAgGGMAoGCCqGSM49BAMDA2kAMGYC
MQCjfy+Rocm9Xue4YnwWmNJVA44fA0P5W2OpYow9OYCVRaEevL8uO1XYru5xtMPW
rfMCMQCi85sWBbJwKKXdS6BptQFuZbT73o/gBh1qUxl/nNr12UO8Yfwr6wPLb+6N
IwLz3/Y=
-----END CERTIFICATE-----
`;

/** SHA-256 of the root's DER, as AWS and this repository's vectors publish it. */
export const AWS_NITRO_ENCLAVES_ROOT_G1_SHA256 = "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b";

export const AWS_NITRO_ENCLAVES_ROOT_G1: Uint8Array = pemToDer(AWS_NITRO_ENCLAVES_ROOT_G1_PEM);

const fingerprint = createHash("sha256").update(AWS_NITRO_ENCLAVES_ROOT_G1).digest("hex");
if (fingerprint !== AWS_NITRO_ENCLAVES_ROOT_G1_SHA256) {
  throw new Error(`the embedded AWS Nitro Enclaves root has SHA-256 ${fingerprint}, not ${AWS_NITRO_ENCLAVES_ROOT_G1_SHA256}`);
}
