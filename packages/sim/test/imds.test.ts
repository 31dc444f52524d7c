// The simulated IMDS over raw HTTP, status by status, and the credential store behind it.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SIMULATED_ROLE_ARN } from "@strongroom/nitro";
import { ImdsSimulator, SimulatedCredentialStore } from "@strongroom/sim";

const TOKEN_TTL = "x-aws-ec2-metadata-token-ttl-seconds";
const TOKEN = "x-aws-ec2-metadata-token";
const ROLE = "strongroom-simulated-parent";

/** A clock the test moves by hand. */
function manualClock(start = Date.parse("2026-11-21T12:00:00Z")) {
  const clock = { now: start, read: () => clock.now };
  return clock;
}

describe("the simulated IMDS", () => {
  const clock = manualClock();
  const store = new SimulatedCredentialStore({ now: clock.read });
  let imds: ImdsSimulator;
  let optional: ImdsSimulator;
  const put = (ttl: string | undefined, headers: Record<string, string> = {}, on = imds) =>
    fetch(`${on.url}/latest/api/token`, { method: "PUT", headers: { ...(ttl !== undefined && { [TOKEN_TTL]: ttl }), ...headers } });
  const token = async (on = imds) => (await put("21600", {}, on)).text();
  const get = async (path: string, tokenValue?: string, on = imds) => {
    const res = await fetch(on.url + path, { headers: tokenValue === undefined ? {} : { [TOKEN]: tokenValue } });
    return { status: res.status, body: await res.text(), type: res.headers.get("content-type") };
  };

  beforeAll(async () => {
    imds = await ImdsSimulator.start({ store, now: clock.read });
    optional = await ImdsSimulator.start({ httpTokens: "optional", region: "eu-central-1" });
  });
  afterAll(async () => {
    await imds.close();
    await optional.close();
  });

  test("PUT /latest/api/token: 1-21600 s, echoed; a missing or bad TTL is 400, a proxied request 403, other methods 405", async () => {
    const ok = await put("21600");
    expect(ok.status).toBe(200);
    expect(ok.headers.get(TOKEN_TTL)).toBe("21600");
    expect(await ok.text()).toMatch(/^[A-Za-z0-9+/=]{40,}$/);
    expect((await put("1")).status).toBe(200);
    for (const ttl of [undefined, "0", "21601", "-5", "60s", "1e3", ""]) expect([ttl, (await put(ttl)).status]).toEqual([ttl, 400]);
    expect((await put("60", { "x-forwarded-for": "203.0.113.9" })).status).toBe(403);
    expect((await fetch(`${imds.url}/latest/api/token`)).status).toBe(405);
    expect((await fetch(`${imds.url}/latest/meta-data/instance-id`, { method: "POST" })).status).toBe(405);
  });

  test("GET needs a valid token when tokens are required; an invalid or expired token is 401 even when they are optional", async () => {
    expect((await get("/latest/meta-data/instance-id")).status).toBe(401);
    expect((await get("/latest/meta-data/instance-id", "made-up")).status).toBe(401);
    const valid = await token();
    expect(await get("/latest/meta-data/instance-id", valid)).toEqual({ status: 200, body: "i-0123456789abcdef0", type: "text/plain" });

    const short = await (await put("10")).text();
    clock.now += 9_999;
    expect((await get("/latest/meta-data/instance-id", short)).status).toBe(200);
    clock.now += 1;
    expect((await get("/latest/meta-data/instance-id", short)).status).toBe(401);

    expect(await get("/latest/meta-data/placement/region", undefined, optional)).toMatchObject({ status: 200, body: "eu-central-1" });
    expect((await get("/latest/meta-data/placement/region", "made-up", optional)).status).toBe(401);
    imds.forgetTokens();
    expect((await get("/latest/meta-data/instance-id", valid)).status).toBe(401);
  });

  test("the metadata tree: directories list their entries, unknown paths are 404, HEAD has no body", async () => {
    const t = await token();
    expect((await get("/latest/meta-data/", t)).body.split("\n")).toEqual(["iam/", "instance-id", "instance-type", "placement/"]);
    expect((await get("/latest/meta-data/iam", t)).body.split("\n")).toEqual(["info", "security-credentials/"]);
    expect((await get("/latest/meta-data/placement/", t)).body.split("\n")).toEqual(["availability-zone", "region"]);
    expect(JSON.parse((await get("/latest/dynamic/instance-identity/document", t)).body)).toMatchObject({ accountId: "000000000000", instanceId: "i-0123456789abcdef0", region: "us-east-1" });
    expect(JSON.parse((await get("/latest/meta-data/iam/info", t)).body)).toMatchObject({ Code: "Success", InstanceProfileArn: `arn:aws:iam::000000000000:instance-profile/${ROLE}` });
    expect((await get("/latest/meta-data/ami-launch-index", t)).status).toBe(404);
    expect((await get("/nope", t)).status).toBe(404);
    const head = await fetch(`${imds.url}/latest/meta-data/instance-id`, { method: "HEAD", headers: { [TOKEN]: t } });
    expect([head.status, head.headers.get("content-length"), await head.text()]).toEqual([200, "19", ""]);
  });

  test("role credentials: the role name, then IMDS's document, which the store accepts", async () => {
    const t = await token();
    expect((await get("/latest/meta-data/iam/security-credentials/", t)).body).toBe(ROLE);
    expect((await get("/latest/meta-data/iam/security-credentials", t)).body).toBe(ROLE);
    const { body, status } = await get(`/latest/meta-data/iam/security-credentials/${ROLE}`, t);
    expect(status).toBe(200);
    expect(body).toMatch(/^\{\n {2}"Code" : "Success",\n/);
    const document = JSON.parse(body) as Record<string, string>;
    expect(Object.keys(document)).toEqual(["Code", "LastUpdated", "Type", "AccessKeyId", "SecretAccessKey", "Token", "Expiration"]);
    expect(document.Type).toBe("AWS-HMAC");
    expect(document.Expiration).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(Date.parse(document.Expiration!) - Date.parse(document.LastUpdated!)).toBeGreaterThanOrEqual(6 * 3_600_000);
    expect(document.AccessKeyId).toMatch(/^ASIA[A-Z2-7]{16}$/);
    expect(document.SecretAccessKey).toHaveLength(40);
    expect(store.lookup(document.AccessKeyId!)).toMatchObject({ secretAccessKey: document.SecretAccessKey, sessionToken: document.Token, roleArn: SIMULATED_ROLE_ARN });
    expect(store.lookup(document.AccessKeyId!)?.expiration.toISOString()).toBe(new Date(document.Expiration!).toISOString());
    expect((await get("/latest/meta-data/iam/security-credentials/other-role", t)).status).toBe(404);
  });

  test("no role attached: both credential paths are 404, and so is iam/info", async () => {
    imds.setRole(null);
    try {
      const t = await token();
      for (const path of ["/latest/meta-data/iam/security-credentials/", `/latest/meta-data/iam/security-credentials/${ROLE}`, "/latest/meta-data/iam/info"]) {
        expect((await get(path, t)).status).toBe(404);
      }
      expect(imds.credentials()).toBeUndefined();
    } finally {
      imds.setRole(SIMULATED_ROLE_ARN);
    }
  });

  test("rotation: the same credentials until rotateBeforeMs before they expire, then new ones; the old work until their own expiry", async () => {
    const first = imds.rotate();
    clock.now = first.expiration.getTime() - 5 * 60_000 - 1;
    expect(imds.credentials()).toBe(first);
    clock.now += 1;
    const second = imds.credentials()!;
    expect(second.accessKeyId).not.toBe(first.accessKeyId);
    // The old set is still issued, and still has time left.
    expect(store.lookup(first.accessKeyId)).toBe(first);
    expect(first.expiration.getTime()).toBeGreaterThan(clock.now);
    expect(second.expiration.getTime() - first.expiration.getTime()).toBe(6 * 3_600_000 - 5 * 60_000);
  });

  test("faults: a status for the targeted requests only, as many times as asked; a reset; a hang until the client gives up", async () => {
    imds.setFault({ kind: "status", status: 503, target: "credentials", times: 2 });
    const t = await token();
    expect((await get("/latest/meta-data/iam/security-credentials/", t)).status).toBe(503);
    expect((await get("/latest/meta-data/instance-id", t)).status).toBe(200);
    expect((await get("/latest/meta-data/iam/security-credentials/", t)).status).toBe(503);
    expect((await get("/latest/meta-data/iam/security-credentials/", t)).status).toBe(200);

    imds.setFault({ kind: "reset", target: "token", times: 1 });
    await expect(put("60")).rejects.toThrow();
    expect((await put("60")).status).toBe(200);

    imds.setFault({ kind: "hang" });
    await expect(fetch(`${imds.url}/latest/api/token`, { method: "PUT", headers: { [TOKEN_TTL]: "60" }, signal: AbortSignal.timeout(200) })).rejects.toThrow();
    imds.setFault(null);
    expect(imds.requests().at(-1)).toEqual({ method: "PUT", path: "/latest/api/token", status: 0, token: "none" });
  });

  test("bad options are refused", async () => {
    await expect(ImdsSimulator.start({ roleArn: "arn:aws:iam::123:user/x" })).rejects.toThrow(/not an IAM role ARN/);
    await expect(ImdsSimulator.start({ credentialLifetimeMs: 1000, rotateBeforeMs: 1000 })).rejects.toThrow(RangeError);
    await expect(ImdsSimulator.start({ region: "moon" })).rejects.toThrow(/region/);
  });
});

describe("the simulated credential store", () => {
  test("lookup: issued sets, expired ones for an hour more, never unknown or revoked ones", () => {
    const clock = manualClock();
    const store = new SimulatedCredentialStore({ now: clock.read });
    const issued = store.issue("arn:aws:iam::123456789012:role/path/to/role", 1_500);
    expect(issued.accountId).toBe("123456789012");
    expect(issued.issuedAt.getTime() % 1000).toBe(0);
    expect(issued.expiration.getTime() - issued.issuedAt.getTime()).toBe(2_000);
    expect(issued.secretAccessKey).toMatch(/^[A-Za-z0-9+/]{40}$/);
    expect(store.lookup(issued.accessKeyId)).toBe(issued);
    expect(store.lookup("ASIAAAAAAAAAAAAAAAAA")).toBeUndefined();
    clock.now = issued.expiration.getTime() + 60 * 60_000;
    expect(store.lookup(issued.accessKeyId)).toBe(issued);
    const other = store.issue("arn:aws:iam::123456789012:role/r", 60_000);
    expect(store.revoke(other.accessKeyId)).toBe(true);
    expect(store.lookup(other.accessKeyId)).toBeUndefined();
    expect(store.revoke("ASIAAAAAAAAAAAAAAAAA")).toBe(false);
    clock.now += 1;
    store.issue("arn:aws:iam::123456789012:role/r", 60_000);
    expect(store.lookup(issued.accessKeyId)).toBeUndefined();
    expect(() => store.issue("not-an-arn", 1000)).toThrow(/not an IAM role ARN/);
    expect(() => store.issue("arn:aws:iam::123456789012:role/r", 0)).toThrow(RangeError);
  });
});
