import assert from "node:assert/strict";
import { defaultConfig } from "../../lib/config/mod.ts";
import { makeRebooter } from "../../lib/reboot.ts";

const strict = { sanitizeOps: true, sanitizeResources: true };

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "kreboot-reboot-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A script that records its argv, one per line, in `<dir>/<name>.args`, then runs `tail`. */
async function recorder(
  dir: string,
  name: string,
  tail = "exit 0",
): Promise<{ path: string; args: () => Promise<string[]> }> {
  const path = `${dir}/${name}`;
  await Deno.writeTextFile(path, `#!/bin/sh\nprintf '%s\\n' "$@" > '${path}.args'\n${tail}\n`);
  await Deno.chmod(path, 0o755);
  return { path, args: async () => (await Deno.readTextFile(`${path}.args`)).replace(/\n$/, "").split("\n") };
}

Deno.test({
  name: "reboot command: runs the argv exactly, no shell",
  ...strict,
  fn: () =>
    withTempDir(async (dir) => {
      const cmd = await recorder(dir, "reboot-cmd");
      const r = makeRebooter({
        method: "command",
        command: [cmd.path, "reboot", "--now please", "$HOME"],
        nsenter: false,
      });
      assert.deepEqual(r.argv, [cmd.path, "reboot", "--now please", "$HOME"]);
      assert.equal(r.describe(), `${cmd.path} reboot '--now please' '$HOME'`);
      await r.reboot();
      assert.deepEqual(await cmd.args(), ["reboot", "--now please", "$HOME"]);
    }),
});

Deno.test({
  name: "reboot command: through nsenter on PID 1's mount namespace",
  ...strict,
  fn: () =>
    withTempDir(async (dir) => {
      const ns = await recorder(dir, "nsenter");
      const r = makeRebooter({
        method: "command",
        command: ["/bin/systemctl", "reboot"],
        nsenter: true,
        nsenterPath: ns.path,
      });
      assert.equal(r.describe(), `${ns.path} -t 1 -m -- /bin/systemctl reboot`);
      await r.reboot();
      assert.deepEqual(await ns.args(), ["-t", "1", "-m", "--", "/bin/systemctl", "reboot"]);
      assert.equal(
        makeRebooter({ method: "command", command: ["/bin/systemctl", "reboot"], nsenter: true }).describe(),
        "nsenter -t 1 -m -- /bin/systemctl reboot",
      );
    }),
});

Deno.test({
  name: "reboot command: a non-zero exit is an error carrying stderr",
  ...strict,
  fn: () =>
    withTempDir(async (dir) => {
      const cmd = await recorder(dir, "failing", `echo "Failed to connect to bus" >&2; exit 1`);
      const r = makeRebooter({ method: "command", command: [cmd.path, "reboot"], nsenter: false });
      await assert.rejects(
        r.reboot(),
        /^Error: reboot command .*failing reboot exited 1: Failed to connect to bus$/,
      );
      const ns = await recorder(
        dir,
        "nsenter",
        `echo "nsenter: cannot open /proc/1/ns/mnt: Permission denied" >&2; exit 1`,
      );
      const viaNs = makeRebooter({
        method: "command",
        command: ["true"],
        nsenter: true,
        nsenterPath: ns.path,
      });
      await assert.rejects(
        viaNs.reboot(),
        /Permission denied \(nsenter needs hostPID: true and a privileged container\)$/,
      );
    }),
});

Deno.test({
  name: "reboot command: a crash by signal and a missing binary are errors",
  ...strict,
  fn: async () => {
    const crash = makeRebooter({ method: "command", command: ["sh", "-c", "kill -KILL $$"], nsenter: false });
    await assert.rejects(crash.reboot(), /was killed by SIGKILL/);
    const missing = makeRebooter({
      method: "command",
      command: ["/nonexistent/systemctl", "reboot"],
      nsenter: false,
    });
    await assert.rejects(
      missing.reboot(),
      /^Error: reboot command failed: cannot run \/nonexistent\/systemctl reboot: /,
    );
  },
});

Deno.test({
  name: "reboot command: still running at the deadline counts as returned (the host is going down)",
  ...strict,
  fn: async () => {
    const t0 = performance.now();
    const r = makeRebooter({ method: "command", command: ["sleep", "30"], nsenter: false, timeoutMs: 150 });
    await r.reboot();
    assert.ok(performance.now() - t0 < 3000);
  },
});

Deno.test({
  name: "reboot command: an abort before it returns is an error",
  ...strict,
  fn: async () => {
    const ac = new AbortController();
    const r = makeRebooter({
      method: "command",
      command: ["sleep", "30"],
      nsenter: false,
      timeoutMs: 10_000,
    });
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(r.reboot(ac.signal), /was aborted before it returned/);
  },
});

Deno.test({
  name: "reboot signal: runs `kill -39 1` with the configured kill binary",
  ...strict,
  fn: () =>
    withTempDir(async (dir) => {
      const kill = await recorder(dir, "kill");
      const r = makeRebooter({
        method: "signal",
        signal: defaultConfig().rebootSignal,
        nsenter: false,
        killPath: kill.path,
      });
      assert.deepEqual(r.argv, [kill.path, "-39", "1"]);
      await r.reboot();
      assert.deepEqual(await kill.args(), ["-39", "1"]);
      assert.equal(makeRebooter({ method: "signal", signal: 39, nsenter: false }).describe(), "kill -39 1");
      assert.equal(
        makeRebooter({ method: "signal", signal: 39, nsenter: true }).describe(),
        "nsenter -t 1 -m -- kill -39 1",
      );
    }),
});

Deno.test({
  name: "reboot signal: a failing kill is an error that names the permission needed",
  ...strict,
  fn: () =>
    withTempDir(async (dir) => {
      const kill = await recorder(dir, "kill", `echo "kill: (1) - Operation not permitted" >&2; exit 1`);
      const r = makeRebooter({ method: "signal", signal: 39, nsenter: false, killPath: kill.path });
      await assert.rejects(
        r.reboot(),
        /^Error: reboot signal 39 .*kill -39 1 exited 1: kill: \(1\) - Operation not permitted \(sending a signal to PID 1 needs hostPID: true and CAP_KILL\)$/,
      );
    }),
});

Deno.test("makeRebooter() rejects configurations that can never work", () => {
  assert.throws(
    () => makeRebooter({ method: "command", command: [], nsenter: true }),
    /reboot command is empty/,
  );
  assert.throws(
    () => makeRebooter({ method: "command", command: [""], nsenter: true }),
    /reboot command is empty/,
  );
  for (const signal of [0, -1, 65, 1.5]) {
    assert.throws(() => makeRebooter({ method: "signal", signal, nsenter: false }), /invalid reboot signal/);
  }
});
