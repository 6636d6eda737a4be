import assert from "node:assert/strict";
import { Limiter } from "../../../lib/drain/limit.ts";

Deno.test("Limiter: never more than max in flight, all calls complete in order of arrival", async () => {
  const lim = new Limiter(3);
  let inFlight = 0;
  let peak = 0;
  const started: number[] = [];
  const results = await Promise.all(Array.from({ length: 10 }, (_, i) =>
    lim.run(async () => {
      started.push(i);
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      return i * 2;
    })));
  assert.equal(peak, 3);
  assert.deepEqual(started, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(results, [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
});

Deno.test("Limiter: a failing call frees its slot", async () => {
  const lim = new Limiter(1);
  await assert.rejects(lim.run(() => Promise.reject(new Error("boom"))), /boom/);
  assert.equal(await lim.run(() => Promise.resolve("next")), "next");
});

Deno.test("Limiter: max below 1 is refused", () => {
  assert.throws(() => new Limiter(0), RangeError);
});
