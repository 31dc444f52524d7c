import { expect, test } from "vitest";
import { HttpError } from "../src/http/errors.ts";
import { Admission } from "../src/pipeline/admission.ts";

const never = () => () => undefined;

test("places are granted in arrival order; a full queue refuses at once; a release passes the place on", async () => {
  let rejections = 0;
  const admission = new Admission({ maxConcurrent: 1, maxQueued: 2, queueDeadlineMs: 10_000 }, () => rejections++);
  const first = await admission.admit(never());
  const order: number[] = [];
  const second = admission.admit(never()).then((release) => (order.push(2), release));
  const third = admission.admit(never()).then((release) => (order.push(3), release));
  await expect(admission.admit(never())).rejects.toMatchObject({ status: 503, headers: { "retry-after": "1" } });
  first();
  first(); // releasing twice frees one place only
  (await second)();
  (await third)();
  expect(order).toEqual([2, 3]);
  expect(rejections).toBe(1);
});

test("a request that waits past the deadline is refused, and one whose client hangs up leaves the queue", async () => {
  const admission = new Admission({ maxConcurrent: 1, maxQueued: 1, queueDeadlineMs: 50 });
  const held = await admission.admit(never());
  const waiting = admission.admit(never());
  await expect(waiting).rejects.toBeInstanceOf(HttpError);
  await expect(waiting).rejects.toThrow(/no place within 50 ms/);

  let hangUp = () => {};
  void admission.admit((listener) => (hangUp = listener)).catch(() => undefined);
  hangUp();
  // The place it held in the queue is free again.
  const next = admission.admit(never());
  held();
  (await next)();
});
