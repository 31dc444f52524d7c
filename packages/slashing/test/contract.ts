// The contract every slashing-protection backend must meet, run by each
// backend's own test file against a fresh database per case.
import { randomBytes } from "node:crypto";
import { describe, expect, test } from "vitest";
import { parseInterchange, type SlashingProtection } from "../src/index.ts";
import { GVR, key, root } from "./fixtures.ts";
import { isZeroRoot, loadVectors } from "./vectors.ts";

export type OpenFreshDatabase = () => Promise<SlashingProtection>;

const bytes = (hex: string) => new Uint8Array(Buffer.from(hex.replace(/^0x/, ""), "hex"));
/**
 * A check's root. A zero vector root still names one message (two identical
 * checks are the same message, which the suite expects to sign twice), so it
 * maps to one fixed stand-in: backends treat an all-zero root as unknown.
 */
const ZERO_CHECK_ROOT = new Uint8Array(32).fill(0xee);
const rootFor = (hex: string | undefined) => (isZeroRoot(hex) ? ZERO_CHECK_ROOT : bytes(hex!));

export function describeSlashingBackend(name: string, openFresh: OpenFreshDatabase): void {
  describe(`${name}: EIP-3076 interchange conformance (complete strategy with low watermark)`, () => {
    for (const file of loadVectors()) {
      test(file.name, async () => {
        const db = await openFresh();
        try {
          await db.ensureGenesisValidatorsRoot(bytes(file.genesis_validators_root));
          for (const [i, step] of file.steps.entries()) {
            const importing = db.importInterchange(parseInterchange(JSON.stringify(step.interchange)));
            if (!step.should_succeed) {
              await expect(importing, `step ${i} import must be refused`).rejects.toThrow();
              continue;
            }
            await importing;
            const gvr = bytes(file.genesis_validators_root);
            for (const block of step.blocks) {
              const decision = await db.checkAndRecordBlock({ publicKey: bytes(block.pubkey), slot: BigInt(block.slot), signingRoot: rootFor(block.signing_root), genesisValidatorsRoot: gvr });
              expect(decision.allowed, `step ${i} block ${block.slot} ${block.signing_root ?? ""}`).toBe(block.should_succeed_complete);
            }
            for (const att of step.attestations) {
              const decision = await db.checkAndRecordAttestation({
                publicKey: bytes(att.pubkey),
                sourceEpoch: BigInt(att.source_epoch),
                targetEpoch: BigInt(att.target_epoch),
                signingRoot: rootFor(att.signing_root),
                genesisValidatorsRoot: gvr,
              });
              expect(decision.allowed, `step ${i} attestation ${att.source_epoch}->${att.target_epoch}`).toBe(att.should_succeed_complete);
            }
          }
        } finally {
          await db.close();
        }
      });
    }
  });

  describe(`${name}: rules and operations`, () => {
    test("the genesis validators root is recorded and enforced", async () => {
      const db = await openFresh();
      try {
        await db.ensureGenesisValidatorsRoot(GVR);
        await db.ensureGenesisValidatorsRoot(GVR);
        await expect(db.ensureGenesisValidatorsRoot(root(9))).rejects.toThrow(/genesis validators root/i);
        const decision = await db.checkAndRecordBlock({ publicKey: key(1), slot: 5n, signingRoot: root(1), genesisValidatorsRoot: root(9) });
        expect(decision).toMatchObject({ allowed: false, rule: "genesis_validators_root_mismatch" });
        const wrongImport = parseInterchange(JSON.stringify({ metadata: { interchange_format_version: "5", genesis_validators_root: `0x${"09".repeat(32)}` }, data: [] }));
        await expect(db.importInterchange(wrongImport)).rejects.toThrow(/genesis validators root/i);
      } finally {
        await db.close();
      }
    });

    test("each rule refuses with its name, and repeats of the same root are allowed", async () => {
      const db = await openFresh();
      try {
        await db.ensureGenesisValidatorsRoot(GVR);
        const block = (slot: bigint, r: number) => db.checkAndRecordBlock({ publicKey: key(2), slot, signingRoot: root(r), genesisValidatorsRoot: GVR });
        const att = (s: bigint, t: bigint, r: number) =>
          db.checkAndRecordAttestation({ publicKey: key(2), sourceEpoch: s, targetEpoch: t, signingRoot: root(r), genesisValidatorsRoot: GVR });
        expect(await block(10n, 1)).toEqual({ allowed: true });
        expect(await block(10n, 1)).toEqual({ allowed: true });
        expect(await block(10n, 2)).toMatchObject({ allowed: false, rule: "double_block_proposal" });
        expect(await att(5n, 4n, 1)).toMatchObject({ allowed: false, rule: "source_after_target" });
        expect(await att(3n, 6n, 1)).toEqual({ allowed: true });
        expect(await att(3n, 6n, 1)).toEqual({ allowed: true });
        expect(await att(3n, 6n, 2)).toMatchObject({ allowed: false, rule: "double_vote" });
        expect(await att(2n, 7n, 3)).toMatchObject({ allowed: false, rule: "surrounding_vote" });
        expect(await att(4n, 5n, 3)).toMatchObject({ allowed: false, rule: "surrounded_vote" });
        // A uint64 at the very top of the range is kept exactly.
        const top = (1n << 64n) - 2n;
        expect(await block(top, 7)).toEqual({ allowed: true });
        expect(await block(top, 8)).toMatchObject({ allowed: false, rule: "double_block_proposal" });
        const exported = await db.exportInterchange([key(2)]);
        expect(exported.data[0]!.signedBlocks.map((b) => b.slot)).toContain(top);
      } finally {
        await db.close();
      }
    });

    test("the low watermark refuses below it, is set by the first import and never lowered", async () => {
      const db = await openFresh();
      try {
        await db.ensureGenesisValidatorsRoot(GVR);
        const interchange = (slot: string, source: string, target: string) =>
          parseInterchange(
            JSON.stringify({
              metadata: { interchange_format_version: "5", genesis_validators_root: `0x${Buffer.from(GVR).toString("hex")}` },
              data: [{ pubkey: `0x${"03".repeat(48)}`, signed_blocks: [{ slot }], signed_attestations: [{ source_epoch: source, target_epoch: target }] }],
            }),
          );
        await db.importInterchange(interchange("100", "10", "20"));
        await db.importInterchange(interchange("50", "5", "8"));
        const block = (slot: bigint) => db.checkAndRecordBlock({ publicKey: key(3), slot, signingRoot: new Uint8Array(randomBytes(32)), genesisValidatorsRoot: GVR });
        const att = (s: bigint, t: bigint) =>
          db.checkAndRecordAttestation({ publicKey: key(3), sourceEpoch: s, targetEpoch: t, signingRoot: new Uint8Array(randomBytes(32)), genesisValidatorsRoot: GVR });
        expect(await block(99n)).toMatchObject({ allowed: false, rule: "block_below_low_watermark" });
        expect(await block(100n)).toMatchObject({ allowed: false });
        expect(await block(101n)).toEqual({ allowed: true });
        expect(await att(9n, 30n)).toMatchObject({ allowed: false, rule: "source_below_low_watermark" });
        expect(await att(10n, 20n)).toMatchObject({ allowed: false });
        expect(await att(21n, 22n)).toEqual({ allowed: true });
      } finally {
        await db.close();
      }
    });

    test("disabled validators are refused until enabled again", async () => {
      const db = await openFresh();
      try {
        await db.ensureGenesisValidatorsRoot(GVR);
        expect(await db.checkAndRecordBlock({ publicKey: key(4), slot: 1n, signingRoot: root(1), genesisValidatorsRoot: GVR })).toEqual({ allowed: true });
        await db.setValidatorsEnabled([key(4)], false);
        expect(await db.checkAndRecordBlock({ publicKey: key(4), slot: 2n, signingRoot: root(1), genesisValidatorsRoot: GVR })).toMatchObject({
          allowed: false,
          rule: "validator_disabled",
        });
        await db.setValidatorsEnabled([key(4)], true);
        expect(await db.checkAndRecordBlock({ publicKey: key(4), slot: 3n, signingRoot: root(1), genesisValidatorsRoot: GVR })).toEqual({ allowed: true });
      } finally {
        await db.close();
      }
    });

    test("export then import into a fresh database gives the same protection", async () => {
      const source = await openFresh();
      const target = await openFresh();
      try {
        await source.ensureGenesisValidatorsRoot(GVR);
        await target.ensureGenesisValidatorsRoot(GVR);
        for (let slot = 10n; slot < 20n; slot++) await source.checkAndRecordBlock({ publicKey: key(5), slot, signingRoot: root(Number(slot)), genesisValidatorsRoot: GVR });
        for (let t = 2n; t < 8n; t++) {
          await source.checkAndRecordAttestation({ publicKey: key(5), sourceEpoch: t - 1n, targetEpoch: t, signingRoot: root(Number(t)), genesisValidatorsRoot: GVR });
        }
        await target.importInterchange(await source.exportInterchange());
        for (const db of [source, target]) {
          expect(await db.checkAndRecordBlock({ publicKey: key(5), slot: 15n, signingRoot: root(15), genesisValidatorsRoot: GVR })).toEqual({ allowed: true });
          expect(await db.checkAndRecordBlock({ publicKey: key(5), slot: 15n, signingRoot: root(99), genesisValidatorsRoot: GVR })).toMatchObject({ allowed: false });
          expect(await db.checkAndRecordBlock({ publicKey: key(5), slot: 5n, signingRoot: root(99), genesisValidatorsRoot: GVR })).toMatchObject({ allowed: false });
          expect(
            await db.checkAndRecordAttestation({ publicKey: key(5), sourceEpoch: 0n, targetEpoch: 9n, signingRoot: root(99), genesisValidatorsRoot: GVR }),
          ).toMatchObject({ allowed: false });
        }
      } finally {
        await source.close();
        await target.close();
      }
    });

    test("prune keeps protection: what is pruned is below the raised low watermark", async () => {
      const db = await openFresh();
      try {
        await db.ensureGenesisValidatorsRoot(GVR);
        for (let t = 1n; t <= 100n; t++) {
          await db.checkAndRecordAttestation({ publicKey: key(6), sourceEpoch: t - 1n, targetEpoch: t, signingRoot: root(1), genesisValidatorsRoot: GVR });
        }
        for (let slot = 32n; slot <= 3200n; slot += 32n) await db.checkAndRecordBlock({ publicKey: key(6), slot, signingRoot: root(1), genesisValidatorsRoot: GVR });
        const summary = await db.prune(10n, 32n);
        expect(summary.attestationsDeleted).toBeGreaterThan(80);
        expect(summary.blocksDeleted).toBeGreaterThan(80);
        const exported = await db.exportInterchange([key(6)]);
        expect(exported.data[0]!.signedAttestations.length).toBeLessThan(20);
        // Below the pruned range, nothing may be signed any more.
        expect(await db.checkAndRecordAttestation({ publicKey: key(6), sourceEpoch: 10n, targetEpoch: 11n, signingRoot: root(2), genesisValidatorsRoot: GVR })).toMatchObject({ allowed: false });
        expect(await db.checkAndRecordBlock({ publicKey: key(6), slot: 33n, signingRoot: root(2), genesisValidatorsRoot: GVR })).toMatchObject({ allowed: false });
      } finally {
        await db.close();
      }
    });

    test("concurrent conflicting requests: never two slashable records", async () => {
      const db = await openFresh();
      try {
        await db.ensureGenesisValidatorsRoot(GVR);
        const attempts = Array.from({ length: 120 }, (_, i) => {
          const source = BigInt(i % 7);
          const target = source + 1n + BigInt((i * 5) % 9);
          return { source, target, r: i };
        });
        const results = await Promise.all(
          attempts.map(async (a) => ({
            ...a,
            decision: await db.checkAndRecordAttestation({ publicKey: key(7), sourceEpoch: a.source, targetEpoch: a.target, signingRoot: root(a.r % 250), genesisValidatorsRoot: GVR }),
          })),
        );
        const allowed = results.filter((r) => r.decision.allowed);
        expect(allowed.length).toBeGreaterThan(0);
        for (const x of allowed) {
          for (const y of allowed) {
            if (x === y) continue;
            const doubleVote = x.target === y.target && x.r % 250 !== y.r % 250;
            const surround = x.source < y.source && x.target > y.target;
            expect(doubleVote || surround, `${x.source}->${x.target} vs ${y.source}->${y.target}`).toBe(false);
          }
        }
        const blocks = await Promise.all(
          Array.from({ length: 60 }, (_, i) => db.checkAndRecordBlock({ publicKey: key(7), slot: BigInt(i % 3), signingRoot: root(i), genesisValidatorsRoot: GVR })),
        );
        expect(blocks.filter((d) => d.allowed).length).toBe(3);
      } finally {
        await db.close();
      }
    });
  });
}
