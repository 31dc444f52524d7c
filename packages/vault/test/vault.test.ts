// The Vault state machine against real parts: dynalite for the signer state,
// the KMS simulator over HTTPS (SigV4, key policies with a PCR0 condition,
// CiphertextForRecipient) with the attested KMS client, and a simulated NSM
// making real COSE attestation documents and random bytes.
import { createHmac } from "node:crypto";
import { CreateKeyCommand, DisableKeyCommand, EnableKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import { enclaveKeyPolicy } from "@strongroom/eif";
import { createAttestedKms } from "@strongroom/kms";
import { NsmClient, SimulatedNsm, type ApplicationFile } from "@strongroom/nitro";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startAttestedKmsFixture, type AttestedKmsFixture } from "../../sim/test/support/aws.ts";
import { startVaultTables, type VaultTables } from "./support/dynalite.ts";
import {
  CredentialAttempts,
  CredentialLockedError,
  newHmacChallenge,
  type OperatorCredentialInput,
  Vault,
  type VaultDependencies,
  VaultError,
  VaultStore,
  VaultUnsealError,
} from "../src/index.ts";

const REGION = "eu-west-1";
const ACCOUNT = "000000000000";
const NAME = `kms.${REGION}.sim.strongroom.internal`;
const ROLE = `arn:aws:iam::${ACCOUNT}:role/strongroom-parent`;
const GENUINE: ApplicationFile[] = [{ path: "main.js", content: Buffer.from("the genuine signer\n") }];

let kmsSim: AttestedKmsFixture;
let genuine: SimulatedNsm;
let pcr0Hex: string;
let kms: KMSClient;
let tables: VaultTables<VaultStore>;

beforeAll(async () => {
  kmsSim = await startAttestedKmsFixture({
    tmpPrefix: "strongroom-vault-",
    region: REGION, accountId: ACCOUNT, name: NAME, role: ROLE, applicationFiles: GENUINE,
    identityPolicy: () => JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: ["kms:CreateKey", "kms:ListKeys"], Resource: "*" }] }),
  });
  ({ genuine, pcr0Hex } = kmsSim);
  kms = kmsSim.kmsClient();

  tables = await startVaultTables("vault", VaultStore);
});

afterAll(async () => {
  kms?.destroy();
  await tables?.close();
  await kmsSim?.close();
});

/** KMS keys the role may Disable/Enable, and use (GenerateDataKey, Decrypt) only from the genuine image (PCR0); no Encrypt at all. */
async function createKeys(n: number): Promise<string[]> {
  const policy = enclaveKeyPolicy(ROLE, pcr0Hex);
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await kms.send(new CreateKeyCommand({ Policy: policy }))).KeyMetadata!.KeyId!);
  return ids;
}

const freshStore = () => tables.freshStore();

/** Every secret buffer a vault has kept, to check that seal() zeroes them. */
type Kept = { buffer: Uint8Array; what: string }[];

function deps(store: VaultStore, extra: Partial<VaultDependencies> = {}, kept: Kept = []): VaultDependencies {
  return {
    store,
    kms: createAttestedKms({ client: kms, attest: (publicKey) => new NsmClient(genuine).attestation({ publicKey }) }),
    nsmRandom: () => new NsmClient(genuine).getRandom(),
    observeSecret: (buffer, what) => kept.push({ buffer, what }),
    ...extra,
  };
}

// Operators: test bytes standing for what the CLI reads from a terminal or a YubiKey.
const passphrase = (text: string) => new Uint8Array(Buffer.from(text));
const slot = (n: number) => new Uint8Array(20).fill(n);
const respond = (slotSecret: Uint8Array, challenge: Uint8Array) => new Uint8Array(createHmac("sha1", slotSecret).update(challenge).digest());
function hmacCredential(credentialId: string, slotSecret: Uint8Array): OperatorCredentialInput {
  const challenge = newHmacChallenge();
  return { kind: "hmac-sha1", credentialId, challenge, response: respond(slotSecret, challenge) };
}
/** The token's answer to the challenge the vault holds now for this credential. */
async function tokenAnswer(vault: Vault, operatorId: string, credentialId: string, slotSecret: Uint8Array) {
  const credential = (await vault.credentialsOf(operatorId)).find((c) => c.credentialId === credentialId);
  expect(credential?.kind).toBe("hmac-sha1");
  return { kind: "hmac-sha1" as const, response: respond(slotSecret, credential!.challenge!) };
}

const ALICE_PASSPHRASE = "alice's long passphrase";
/** alice: a passphrase; bob and carol: HMAC-SHA1 tokens (one scrypt derivation per init). */
const operatorSet = () => [
  { id: "alice", credentials: [{ kind: "passphrase", credentialId: "alice-pass", passphrase: passphrase(ALICE_PASSPHRASE) } as const] },
  { id: "bob", credentials: [hmacCredential("bob-yubikey", slot(2))] },
  { id: "carol", credentials: [hmacCredential("carol-yubikey", slot(3))] },
];

async function initialised(options: { kept?: Kept; extra?: Partial<VaultDependencies> } = {}) {
  const store = await freshStore();
  const keys = await createKeys(3);
  const vault = await Vault.open(deps(store, options.extra, options.kept));
  expect(vault.state).toBe("uninitialized");
  await vault.init({ kmsKeys: keys, kmsThreshold: 2, operators: operatorSet(), operatorThreshold: 2 });
  return { store, keys, vault };
}

const validatorPublic = (n: number) => new Uint8Array(48).fill(n);
const validatorSecret = (n: number) => new Uint8Array(32).fill(0x40 + n);

async function refusal(run: () => Promise<unknown> | unknown): Promise<Error> {
  try {
    await run();
  } catch (error) {
    expect(error).toBeInstanceOf(VaultError);
    return error as Error;
  }
  throw new Error("not refused");
}

const setEnabled = (keyId: string, enabled: boolean) => kms.send(enabled ? new EnableKeyCommand({ KeyId: keyId }) : new DisableKeyCommand({ KeyId: keyId }));

describe("Vault", () => {
  test("init 2-of-3 KMS + 2-of-3 operators: unsealed, and the stored state holds nothing secret", async () => {
    const kept: Kept = [];
    const { store, keys, vault } = await initialised({ kept });
    expect(vault.state).toBe("unsealed");
    const status = vault.status();
    expect(status).toMatchObject({ state: "unsealed", generation: 1, kms: { threshold: 2, keys }, operators: { threshold: 2, ids: ["alice", "bob", "carol"], received: 0 } });
    expect(status.reason).toBeUndefined();

    const masterKey = kept.find((k) => k.what === "master-key")!.buffer;
    expect(masterKey).toHaveLength(32);
    expect(masterKey.some((b) => b !== 0)).toBe(true);

    const stored = await store.readState();
    expect(stored?.version).toBe(1);
    const json = JSON.stringify(stored!.state);
    const doc = (stored!.state as { vault: Record<string, unknown> }).vault;
    expect(doc).toMatchObject({ format: "strongroom-vault-state-v1", generation: 1, kms: { threshold: 2 }, operators: { threshold: 2 } });
    const kmsShares = (doc["kms"] as { shares: { index: number; keyId: string; ciphertext: string }[] }).shares;
    expect(kmsShares.map((s) => [s.index, s.keyId])).toEqual(keys.map((k, i) => [i + 1, k]));
    for (const share of kmsShares) expect(Buffer.from(share.ciphertext, "base64").length).toBeGreaterThan(32);
    for (const encoding of ["hex", "base64"] as const) expect(json).not.toContain(Buffer.from(masterKey).toString(encoding));
    expect(json).not.toContain(ALICE_PASSPHRASE);

    // A second init is refused.
    expect((await refusal(() => vault.init({ kmsKeys: keys, kmsThreshold: 2, operators: [], operatorThreshold: 0 }))).message).toMatch(/already initialised/);
  });

  test("seal wipes the master key and refuses sealKey; KMS unseal rebuilds the same key, and a key sealed before opens after", async () => {
    const kept: Kept = [];
    const { store, vault } = await initialised({ kept });
    const sealed = vault.sealKey(validatorPublic(1), validatorSecret(1));
    const masterKey = kept.at(-1)!.buffer;
    const copy = Uint8Array.from(masterKey);
    let told = 0;
    vault.onSeal(() => told++);

    vault.seal();
    expect(told).toBe(1);
    expect(vault.state).toBe("sealed");
    expect(masterKey.every((b) => b === 0)).toBe(true);
    expect((await refusal(() => vault.sealKey(validatorPublic(2), validatorSecret(2)))).message).toBe("the vault is sealed");
    expect((await refusal(() => vault.openKey(validatorPublic(1), sealed))).message).toBe("the vault is sealed");
    expect(vault.status()).toMatchObject({ state: "sealed", reason: "sealed on command" });

    await vault.unsealWithKms();
    expect(vault.state).toBe("unsealed");
    expect(kept.at(-1)!.buffer).toEqual(copy);
    expect(vault.openKey(validatorPublic(1), sealed)).toEqual(validatorSecret(1));

    // A restart: a new vault on the same store starts sealed and unseals by KMS alone.
    const restarted = await Vault.open(deps(store));
    expect(restarted.status()).toMatchObject({ state: "sealed", reason: "not unsealed since start" });
    await restarted.unsealWithKms();
    expect(restarted.openKey(validatorPublic(1), sealed)).toEqual(validatorSecret(1));
  });

  test("KMS unseal: one key disabled still unseals; two disabled stays sealed with a message naming them", async () => {
    const { keys, vault } = await initialised();
    const sealed = vault.sealKey(validatorPublic(3), validatorSecret(3));
    vault.seal();
    await setEnabled(keys[0]!, false);
    await vault.unsealWithKms();
    expect(vault.openKey(validatorPublic(3), sealed)).toEqual(validatorSecret(3));

    vault.seal();
    await setEnabled(keys[2]!, false);
    const error = await refusal(() => vault.unsealWithKms());
    expect(error).toBeInstanceOf(VaultUnsealError);
    const unseal = error as VaultUnsealError;
    expect(unseal.recovered).toBe(1);
    expect(unseal.failures.map((f) => [f.index, f.keyId])).toEqual([
      [1, keys[0]],
      [3, keys[2]],
    ]);
    expect(unseal.message).toMatch(/recovered 1 of the 2 shares needed from 3 KMS keys/);
    expect(unseal.message).toContain(`kms-1 (${keys[0]}): DisabledException`);
    expect(unseal.message).toContain(`kms-3 (${keys[2]}): DisabledException`);
    expect(unseal.message).not.toContain(`kms-2 (${keys[1]})`);
    expect(unseal.message).toMatch(/operators can unseal it instead \(2 of 3 operators: alice, bob, carol\)/);
    expect(vault.state).toBe("sealed");
    expect(vault.status().reason).toBe(unseal.message);

    // The operators do unseal it; and a re-enabled key brings automatic unseal back.
    await vault.submitOperatorCredential("bob", await tokenAnswer(vault, "bob", "bob-yubikey", slot(2)));
    await vault.submitOperatorCredential("carol", await tokenAnswer(vault, "carol", "carol-yubikey", slot(3)));
    expect(vault.openKey(validatorPublic(3), sealed)).toEqual(validatorSecret(3));
    vault.seal();
    await setEnabled(keys[2]!, true);
    await vault.unsealWithKms();
    expect(vault.state).toBe("unsealed");
  });

  test("operator unseal with 2 of 3 (a passphrase and an HMAC-SHA1 token); a seal part-way wipes the share received", async () => {
    const kept: Kept = [];
    const { vault } = await initialised({ kept });
    const sealed = vault.sealKey(validatorPublic(4), validatorSecret(4));
    vault.seal();

    // One share in, then a seal: the share is zeroed and progress starts over.
    expect(await vault.submitOperatorCredential("bob", await tokenAnswer(vault, "bob", "bob-yubikey", slot(2)))).toEqual({ received: 1, threshold: 2, state: "sealed" });
    expect(vault.status().operators.received).toBe(1);
    const bobShare = kept.at(-1)!;
    expect(bobShare.what).toBe("operator-share");
    expect(bobShare.buffer.some((b) => b !== 0)).toBe(true);
    vault.seal();
    expect(bobShare.buffer.every((b) => b === 0)).toBe(true);
    expect(vault.status().operators.received).toBe(0);

    expect(await vault.submitOperatorCredential("alice", { kind: "passphrase", passphrase: passphrase(ALICE_PASSPHRASE) })).toEqual({ received: 1, threshold: 2, state: "sealed" });
    const aliceShare = kept.at(-1)!.buffer;
    expect((await refusal(() => vault.submitOperatorCredential("alice", { kind: "passphrase", passphrase: passphrase(ALICE_PASSPHRASE) }))).message).toMatch(/already submitted/);
    expect(await vault.submitOperatorCredential("carol", await tokenAnswer(vault, "carol", "carol-yubikey", slot(3)))).toEqual({ received: 2, threshold: 2, state: "unsealed" });
    expect(vault.state).toBe("unsealed");
    // The shares are zeroed once combined.
    expect(aliceShare.every((b) => b === 0)).toBe(true);
    expect(vault.openKey(validatorPublic(4), sealed)).toEqual(validatorSecret(4));
    expect((await refusal(() => vault.submitOperatorCredential("bob", { kind: "hmac-sha1", response: slot(0) }))).message).toMatch(/already unsealed/);
  });

  test("wrong credentials are counted and lock the operator out, even against the right credential", async () => {
    let clock = Date.parse("2025-06-01T00:00:00Z");
    const attempts = new CredentialAttempts({ policy: { maxFailures: 3, baseLockoutMs: 60_000 }, now: () => clock });
    const { vault } = await initialised({ extra: { attempts } });
    vault.seal();

    expect((await refusal(() => vault.submitOperatorCredential("mallory", { kind: "hmac-sha1", response: slot(9) }))).message).toBe('"mallory" is not an operator of this vault');
    for (let i = 0; i < 3; i++) {
      expect((await refusal(() => vault.submitOperatorCredential("bob", { kind: "hmac-sha1", response: slot(9) }))).message).toBe("wrong credential");
    }
    const right = await tokenAnswer(vault, "bob", "bob-yubikey", slot(2));
    const locked = await refusal(() => vault.submitOperatorCredential("bob", right));
    expect(locked).toBeInstanceOf(CredentialLockedError);
    expect((locked as CredentialLockedError).retryAfterMs).toBe(60_000);
    expect(attempts.status("bob")).toMatchObject({ lockouts: 1 });
    expect(vault.status().operators.received).toBe(0);
    // A passphrase submitted as the wrong kind counts too (carol has a token).
    expect((await refusal(() => vault.submitOperatorCredential("carol", { kind: "passphrase", passphrase: passphrase(ALICE_PASSPHRASE) }))).message).toBe("wrong credential");
    expect(attempts.status("carol").failures).toBe(1);

    clock += 60_000;
    expect(await vault.submitOperatorCredential("bob", right)).toMatchObject({ received: 1 });
    expect(attempts.status("bob")).toEqual({ failures: 0, lockedForMs: 0, lockouts: 0 });
  });

  test("rotate: new operator set and KMS keys; old credentials refused, KMS unseal works, keys still open", async () => {
    const { store, keys, vault } = await initialised();
    const sealed = vault.sealKey(validatorPublic(5), validatorSecret(5));
    const oldBob = await tokenAnswer(vault, "bob", "bob-yubikey", slot(2));
    const [fourth] = await createKeys(1);

    const rotation = vault.rotate({
      kmsKeys: [keys[1]!, keys[2]!, fourth!],
      kmsThreshold: 2,
      operators: [
        { id: "bob", credentials: [hmacCredential("bob-yubikey", slot(2))] },
        { id: "dave", credentials: [hmacCredential("dave-yubikey", slot(4))] },
        { id: "erin", credentials: [hmacCredential("erin-yubikey", slot(5)), hmacCredential("erin-spare", slot(6))] },
      ],
      operatorThreshold: 2,
    });
    // Still signing while the rotation runs.
    expect(vault.state).toBe("awaiting_rotation");
    expect(vault.openKey(validatorPublic(5), sealed)).toEqual(validatorSecret(5));
    expect((await refusal(() => vault.rotate({ kmsThreshold: 3 }))).message).toBe("a rotation is already in progress");
    await rotation;
    expect(vault.status()).toMatchObject({ state: "unsealed", generation: 2, kms: { threshold: 2, keys: [keys[1], keys[2], fourth] }, operators: { ids: ["bob", "dave", "erin"] } });
    expect((await store.readState())!.version).toBe(2);

    vault.seal();
    // bob's old response answers the old challenge: the new record does not open with it.
    expect((await refusal(() => vault.submitOperatorCredential("bob", oldBob))).message).toBe("wrong credential");
    expect((await refusal(() => vault.submitOperatorCredential("alice", { kind: "passphrase", passphrase: passphrase(ALICE_PASSPHRASE) }))).message).toMatch(/not an operator/);
    await vault.submitOperatorCredential("dave", await tokenAnswer(vault, "dave", "dave-yubikey", slot(4)));
    await vault.submitOperatorCredential("erin", await tokenAnswer(vault, "erin", "erin-spare", slot(6)));
    expect(vault.openKey(validatorPublic(5), sealed)).toEqual(validatorSecret(5));

    // KMS: the first key is no longer used (disabling it changes nothing); the new one is.
    vault.seal();
    await setEnabled(keys[0]!, false);
    await vault.unsealWithKms();
    expect(vault.openKey(validatorPublic(5), sealed)).toEqual(validatorSecret(5));

    // Rotating the KMS side alone keeps the operator records as they are.
    await vault.rotate({ kmsThreshold: 3 });
    vault.seal();
    await setEnabled(fourth!, false);
    expect((await refusal(() => vault.unsealWithKms())).message).toMatch(/recovered 2 of the 3 shares needed/);
    await vault.submitOperatorCredential("bob", await tokenAnswer(vault, "bob", "bob-yubikey", slot(2)));
    await vault.submitOperatorCredential("dave", await tokenAnswer(vault, "dave", "dave-yubikey", slot(4)));
    expect(vault.openKey(validatorPublic(5), sealed)).toEqual(validatorSecret(5));
    expect(vault.status().generation).toBe(3);

    expect((await refusal(() => vault.rotate({ operatorThreshold: 3 }))).message).toMatch(/give the operators/);
    expect((await refusal(() => vault.rotate({ kmsKeys: [], operators: [] }))).message).toMatch(/neither KMS nor operator shares/);
  });

  test("a second writer: concurrent inits let one in; a rotation over another instance's rotation is refused; other state fields are kept", async () => {
    const store = await freshStore();
    const keys = await createKeys(2);
    await store.writeState({ tokens: [{ id: "t1" }] }, undefined);
    const a = await Vault.open(deps(store));
    const b = await Vault.open(deps(store));
    const init = { kmsKeys: keys, kmsThreshold: 2, operators: [], operatorThreshold: 0 };
    const results = await Promise.allSettled([a.init(init), b.init(init)]);
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(lost).toHaveLength(1);
    expect(lost[0]!.reason).toBeInstanceOf(VaultError);
    expect((lost[0]!.reason as Error).message).toMatch(/another writer|already initialised/);
    const [winner, loser] = results[0]!.status === "fulfilled" ? [a, b] : [b, a];
    expect(loser.state).toBe("uninitialized");
    expect(((await store.readState())!.state as { tokens: unknown }).tokens).toEqual([{ id: "t1" }]);

    // The loser loads the winner's state and unseals with it.
    await loser.unsealWithKms();
    const sealed = winner.sealKey(validatorPublic(6), validatorSecret(6));
    expect(loser.openKey(validatorPublic(6), sealed)).toEqual(validatorSecret(6));

    await winner.rotate({ operators: [{ id: "bob", credentials: [hmacCredential("bob-yubikey", slot(2))] }], operatorThreshold: 1 });
    const stale = await refusal(() => loser.rotate({ kmsThreshold: 2 }));
    expect(stale.message).toMatch(/changed by another writer .* generation 2; this vault holds generation 1/);
    expect(loser.state).toBe("unsealed");
    const stored = (await store.readState())!;
    expect(stored.version).toBe(3);
    expect((stored.state as { tokens: unknown }).tokens).toEqual([{ id: "t1" }]);

    // Reloading (seal, unseal) brings the loser up to date.
    loser.seal();
    await loser.unsealWithKms();
    await loser.rotate({ kmsThreshold: 2 });
    expect(loser.status().generation).toBe(3);
  });

  test("an altered state is caught: a swapped KMS ciphertext does not decrypt, a wrong key-check value refuses the key", async () => {
    const { store, vault } = await initialised();
    vault.seal();
    const { state, version } = (await store.readState())!;
    const doc = structuredClone(state) as { vault: { kms: { shares: { ciphertext: string }[] }; keyCheck: string } };
    const [s1, s2] = doc.vault.kms.shares;
    [s1!.ciphertext, s2!.ciphertext] = [s2!.ciphertext, s1!.ciphertext];
    const v2 = await store.writeState(doc, version);
    const swapped = (await refusal(() => vault.unsealWithKms())) as VaultUnsealError;
    expect(swapped.failures.map((f) => f.error.split(":")[0])).toEqual(["IncorrectKeyException", "IncorrectKeyException"]);

    // The data-key blobs in place but the sealed shares swapped: each opens with its own data key only.
    const moved = structuredClone(state) as { vault: { kms: { shares: { sealedShare: string }[] } } };
    const [m1, m2] = moved.vault.kms.shares;
    [m1!.sealedShare, m2!.sealedShare] = [m2!.sealedShare, m1!.sealedShare];
    const v3 = await store.writeState(moved, v2);
    const movedRefusal = (await refusal(() => vault.unsealWithKms())) as VaultUnsealError;
    expect(movedRefusal.recovered).toBe(1);
    expect(movedRefusal.failures.map((f) => f.error)).toEqual([
      expect.stringMatching(/kms-1: the sealed share does not open with its data key/),
      expect.stringMatching(/kms-2: the sealed share does not open with its data key/),
    ]);

    const original = structuredClone(state) as typeof doc;
    original.vault.keyCheck = Buffer.alloc(32, 7).toString("base64");
    await store.writeState(original, v3);
    expect((await refusal(() => vault.unsealWithKms())).message).toMatch(/do not combine to this vault's master key/);
    expect(vault.state).toBe("sealed");

    await store.writeState({ vault: { format: "something else" } }, v3 + 1);
    expect((await refusal(() => Vault.open(deps(store)))).message).toMatch(/signer state malformed: unknown format/);
  });

  test("inputs are checked before any key is made", async () => {
    const store = await freshStore();
    let drawn = 0;
    const vault = await Vault.open(deps(store, { nsmRandom: async () => (drawn++, new Uint8Array(64).fill(1)) }));
    const keys = ["11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"];
    const cases: [object, RegExp][] = [
      [{ kmsKeys: [], kmsThreshold: 0, operators: [], operatorThreshold: 0 }, /KMS keys, operators or both/],
      [{ kmsKeys: keys, kmsThreshold: 1, operators: [], operatorThreshold: 0 }, /KMS threshold must be an integer from 2 to 2/],
      [{ kmsKeys: [keys[0], keys[0]], kmsThreshold: 2, operators: [], operatorThreshold: 0 }, /repeats a key/],
      [{ kmsKeys: ["has space"], kmsThreshold: 1, operators: [], operatorThreshold: 0 }, /kmsKeys\[0\]/],
      [{ kmsKeys: [], kmsThreshold: 0, operators: [{ id: "a", credentials: [] }], operatorThreshold: 1 }, /needs 1 to 8 credentials/],
      [{ kmsKeys: [], kmsThreshold: 0, operators: operatorSet().slice(0, 2), operatorThreshold: 3 }, /operator threshold must be an integer from 2 to 2/],
    ];
    for (const [options, message] of cases) expect((await refusal(() => vault.init(options as never))).message).toMatch(message);
    expect(drawn).toBe(0);
    expect(vault.state).toBe("uninitialized");
    expect((await refusal(() => vault.unsealWithKms())).message).toBe("the vault is not initialised");
    expect((await refusal(() => vault.rotate({ kmsThreshold: 2 }))).message).toMatch(/needs an unsealed vault/);
  });
});
