/** The sentinel file's watch (lib/sentinel/watch.ts). */
import assert from "node:assert/strict";
import { sentinelChanged } from "../../../lib/sentinel/watch.ts";

/** Whether `p` settles within `ms`. */
async function settlesWithin(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  const r = await Promise.race([p.then(() => true as const), late]);
  clearTimeout(timer);
  return r;
}

Deno.test("sentinelChanged: a file that appeared after the last check, before the watch began, wakes at once", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/reboot-required`;
  const ac = new AbortController();
  try {
    // The check saw no file; the file came before the watch did.
    await Deno.writeTextFile(path, "");
    assert.equal(await settlesWithin(sentinelChanged(path, ac.signal, false), 1_000), true);
    // Seen as it is now: only a change wakes it.
    const waiting = sentinelChanged(path, ac.signal, true);
    assert.equal(await settlesWithin(waiting, 200), false);
    await Deno.remove(path);
    assert.equal(await settlesWithin(waiting, 2_000), true);
    // A file that vanished after a check that saw it.
    assert.equal(await settlesWithin(sentinelChanged(path, ac.signal, true), 1_000), true);
  } finally {
    ac.abort();
    await Deno.remove(dir, { recursive: true });
  }
});
