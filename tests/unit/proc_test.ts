import assert from "node:assert/strict";
import { hostArgv, outputTail, quoteArgv, runBounded, SpawnError } from "../../lib/proc.ts";

const strict = { sanitizeOps: true, sanitizeResources: true };

Deno.test({
  name: "runBounded() captures exit code, stdout and stderr of a normal run",
  ...strict,
  fn: async () => {
    const r = await runBounded(["sh", "-c", "echo out; echo err >&2; exit 3"], { timeoutMs: 5000 });
    assert.deepEqual(r, {
      code: 3,
      timedOut: false,
      aborted: false,
      stdout: "out\n",
      stderr: "err\n",
      truncated: false,
    });
  },
});

Deno.test({
  name: "runBounded() passes arguments verbatim, without a shell",
  ...strict,
  fn: async () => {
    const r = await runBounded(["printf", "%s|", "a b", "$HOME", "*", "'q'"], { timeoutMs: 5000 });
    assert.equal(r.code, 0);
    assert.equal(r.stdout, "a b|$HOME|*|'q'|");
  },
});

Deno.test({
  name: "runBounded() kills a hung command at the deadline and reports timedOut",
  ...strict,
  fn: async () => {
    const t0 = performance.now();
    const r = await runBounded(["sh", "-c", "echo started; sleep 30"], { timeoutMs: 200 });
    const took = performance.now() - t0;
    assert.equal(r.timedOut, true);
    assert.equal(r.code, null);
    assert.equal(r.signal, "SIGTERM");
    assert.equal(r.stdout, "started\n");
    assert.ok(took < 3000, `took ${took} ms`);
  },
});

Deno.test({
  name: "runBounded() escalates to SIGKILL when the command ignores SIGTERM",
  ...strict,
  fn: async () => {
    const t0 = performance.now();
    const r = await runBounded(["sh", "-c", "trap '' TERM; sleep 30"], { timeoutMs: 100, killGraceMs: 200 });
    const took = performance.now() - t0;
    assert.equal(r.timedOut, true);
    assert.equal(r.signal, "SIGKILL");
    assert.ok(took >= 250 && took < 3000, `took ${took} ms`);
  },
});

Deno.test({
  name: "runBounded() kills the whole process group, so a backgrounded grandchild cannot hold it open",
  ...strict,
  fn: async () => {
    const t0 = performance.now();
    const r = await runBounded(["sh", "-c", "sleep 30 & sleep 30; wait"], { timeoutMs: 150, drainMs: 5000 });
    assert.equal(r.timedOut, true);
    // Had the grandchild survived, reading would wait out drainMs (5 s) for the pipe to close.
    assert.ok(performance.now() - t0 < 2500);
  },
});

Deno.test({
  name: "runBounded() stops waiting for output held open by a surviving grandchild after drainMs",
  ...strict,
  fn: async () => {
    const t0 = performance.now();
    // The parent exits at once; the background sleep keeps stdout open. Its pid goes to stderr so the test
    // can end it (and leak nothing).
    const r = await runBounded(["sh", "-c", "echo hi; sleep 30 & echo $! >&2; exit 0"], {
      timeoutMs: 5000,
      drainMs: 200,
    });
    const orphan = Number(r.stderr.trim());
    try {
      assert.equal(r.code, 0);
      assert.ok(orphan > 0, r.stderr);
      assert.equal(r.stdout, "hi\n");
      assert.ok(performance.now() - t0 < 2000);
    } finally {
      if (orphan > 0) Deno.kill(orphan, "SIGKILL");
    }
  },
});

Deno.test({
  name: "runBounded() aborts on the caller's signal",
  ...strict,
  fn: async () => {
    const ac = new AbortController();
    const run = runBounded(["sleep", "30"], { timeoutMs: 10_000, signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    const r = await run;
    assert.equal(r.aborted, true);
    assert.equal(r.timedOut, false);
    assert.equal(r.code, null);
  },
});

Deno.test({
  name: "runBounded() truncates megabytes of output at the cap but drains it all, so the command finishes",
  ...strict,
  fn: async () => {
    // 8 MiB on stdout and 1 MiB on stderr, far beyond a pipe buffer: a reader that stopped would hang it.
    const r = await runBounded(
      [
        "sh",
        "-c",
        "head -c 8388608 /dev/zero | tr '\\0' x; head -c 1048576 /dev/zero | tr '\\0' y >&2; exit 0",
      ],
      { timeoutMs: 20_000, maxOutputBytes: 1000 },
    );
    assert.equal(r.code, 0);
    assert.equal(r.timedOut, false);
    assert.equal(r.truncated, true);
    assert.equal(r.stdout, "x".repeat(1000));
    assert.equal(r.stderr, "y".repeat(1000));
  },
});

Deno.test({
  name: "runBounded() default cap is 64 KiB",
  ...strict,
  fn: async () => {
    const r = await runBounded(["sh", "-c", "head -c 100000 /dev/zero | tr '\\0' z"], { timeoutMs: 10_000 });
    assert.equal(r.stdout.length, 64 * 1024);
    assert.equal(r.truncated, true);
  },
});

Deno.test({
  name: "runBounded() reports a signal death with code null",
  ...strict,
  fn: async () => {
    const r = await runBounded(["sh", "-c", "kill -SEGV $$"], { timeoutMs: 5000 });
    assert.equal(r.code, null);
    assert.equal(r.signal, "SIGSEGV");
    assert.equal(r.timedOut, false);
  },
});

Deno.test({
  name: "runBounded() throws SpawnError for a missing binary and an empty argv",
  ...strict,
  fn: async () => {
    await assert.rejects(runBounded(["/nonexistent/kreboot-x", "a"], { timeoutMs: 1000 }), (e: unknown) => {
      assert.ok(e instanceof SpawnError);
      assert.equal(e.notFound, true);
      assert.match(e.message, /cannot run \/nonexistent\/kreboot-x a: .*installed/);
      return true;
    });
    await assert.rejects(runBounded([], { timeoutMs: 1000 }), SpawnError);
  },
});

Deno.test("hostArgv() wraps in nsenter for PID 1's mount namespace only when asked", () => {
  assert.deepEqual(hostArgv(["/bin/systemctl", "reboot"], true), [
    "nsenter",
    "-t",
    "1",
    "-m",
    "--",
    "/bin/systemctl",
    "reboot",
  ]);
  assert.deepEqual(hostArgv(["ls", "-Fal"], true, "/usr/bin/nsenter"), [
    "/usr/bin/nsenter",
    "-t",
    "1",
    "-m",
    "--",
    "ls",
    "-Fal",
  ]);
  assert.deepEqual(hostArgv(["ls"], false), ["ls"]);
});

Deno.test("quoteArgv() and outputTail() render for humans", () => {
  assert.equal(
    quoteArgv(["sh", "-c", "! needs-restarting -r", "it's"]),
    `sh -c '! needs-restarting -r' 'it'\\''s'`,
  );
  assert.equal(outputTail("a\n  b\n\n"), "a | b");
  assert.equal(outputTail("x".repeat(10) + "END", 5), "...xxEND");
});
