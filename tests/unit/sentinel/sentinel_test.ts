import assert from "node:assert/strict";
import { checkSentinel } from "../../../lib/sentinel/mod.ts";

const strict = { sanitizeOps: true, sanitizeResources: true };

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "kreboot-sentinel-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function script(path: string, body: string): Promise<string> {
  await Deno.writeTextFile(path, `#!/bin/sh\n${body}\n`);
  await Deno.chmod(path, 0o755);
  return path;
}

const cmd = (command: string[], timeoutMs = 5000) => ({ command, nsenter: false, timeoutMs });

Deno.test({
  name: "sentinel file: present = required, absent = not required",
  ...strict,
  fn: () =>
    withTempDir(async (dir) => {
      const file = `${dir}/reboot-required`;
      assert.deepEqual(await checkSentinel({ file }), { required: false });
      await Deno.writeTextFile(file, "");
      assert.deepEqual(await checkSentinel({ file }), { required: true });
      // A path through a regular file is simply absent, not an error.
      assert.deepEqual(await checkSentinel({ file: `${file}/x` }), { required: false });
    }),
});

Deno.test({
  name: "sentinel file: a stat error other than not-found is an error (not now), never a reboot",
  ...strict,
  fn: () =>
    withTempDir(async (dir) => {
      // A symlink loop gives ELOOP; tests run as root, so EACCES cannot be provoked portably.
      await Deno.symlink(`${dir}/b`, `${dir}/a`);
      await Deno.symlink(`${dir}/a`, `${dir}/b`);
      const r = await checkSentinel({ file: `${dir}/a` });
      assert.equal(r.required, false);
      assert.ok("error" in r);
      assert.match(r.error, /cannot check the reboot sentinel file .*\/a: /);
    }),
});

Deno.test({
  name: "sentinel command: exit 0 = required, 1 = not required, 2 = not required with a warning",
  ...strict,
  fn: async () => {
    assert.deepEqual(await checkSentinel(cmd(["true"])), { required: true });
    assert.deepEqual(await checkSentinel(cmd(["false"])), { required: false });
    const r = await checkSentinel(cmd(["sh", "-c", "echo oops >&2; exit 2"]));
    assert.ok("warning" in r);
    assert.equal(r.required, false);
    assert.match(r.warning, /exited 2; treating it as "not required"; stderr: oops/);
  },
});

Deno.test({
  name: "sentinel command: a hang is killed at the deadline and reported as an error",
  ...strict,
  fn: async () => {
    const t0 = performance.now();
    const r = await checkSentinel(cmd(["sleep", "30"], 150));
    assert.ok(performance.now() - t0 < 3000);
    assert.ok("error" in r);
    assert.equal(r.required, false);
    assert.match(r.error, /sleep 30 did not finish within 150 ms and was killed/);
  },
});

Deno.test({
  name: "sentinel command: a crash by signal is an error, not 'not required'",
  ...strict,
  fn: async () => {
    const r = await checkSentinel(cmd(["sh", "-c", "kill -ABRT $$"]));
    assert.ok("error" in r);
    assert.match(r.error, /was killed by SIGABRT/);
  },
});

Deno.test({
  name: "sentinel command: a missing binary is an error (spawn failure, or 127 from a shell)",
  ...strict,
  fn: async () => {
    const spawn = await checkSentinel(cmd(["/nonexistent/needs-restarting", "-r"]));
    assert.ok("error" in spawn);
    assert.match(spawn.error, /cannot run \/nonexistent\/needs-restarting -r/);
    const shell = await checkSentinel(cmd(["sh", "-c", "needs-restarting-kreboot-missing -r"]));
    assert.ok("error" in shell);
    assert.match(shell.error, /could not be run on the host \(exit 127/);
    assert.deepEqual(await checkSentinel(cmd([])), {
      required: false,
      error: "the reboot sentinel command is empty",
    });
  },
});

Deno.test({
  name: "sentinel command: megabytes of output are truncated and do not block the answer",
  ...strict,
  fn: async () => {
    const r = await checkSentinel(cmd(["sh", "-c", "head -c 5000000 /dev/zero; exit 0"], 20_000));
    assert.deepEqual(r, { required: true });
  },
});

Deno.test({
  name: "sentinel command: runs through nsenter on PID 1 when asked, and nsenter's own failure is an error",
  ...strict,
  fn: () =>
    withTempDir(async (dir) => {
      const log = `${dir}/args`;
      // A fake nsenter that records its argv, then runs the command after "--".
      const ok = await script(
        `${dir}/nsenter-ok`,
        `printf '%s\\n' "$@" > '${log}'; while [ "$1" != "--" ]; do shift; done; shift; exec "$@"`,
      );
      const r = await checkSentinel({
        command: ["test", "-e", dir],
        nsenter: true,
        timeoutMs: 5000,
        nsenterPath: ok,
      });
      assert.deepEqual(r, { required: true });
      assert.deepEqual((await Deno.readTextFile(log)).trimEnd().split("\n"), [
        "-t",
        "1",
        "-m",
        "--",
        "test",
        "-e",
        dir,
      ]);

      const denied = await script(
        `${dir}/nsenter-denied`,
        `echo "nsenter: cannot open /proc/1/ns/mnt: Permission denied" >&2; exit 1`,
      );
      const d = await checkSentinel({
        command: ["true"],
        nsenter: true,
        timeoutMs: 5000,
        nsenterPath: denied,
      });
      assert.ok("error" in d);
      assert.match(
        d.error,
        /failed in nsenter \(needs hostPID and a privileged container\); stderr: nsenter: cannot open/,
      );
    }),
});
