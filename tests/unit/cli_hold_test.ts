import assert from "node:assert/strict";
import { isNodeCommand, parseNodeCommandArgs } from "../../lib/cli/hold.ts";
import { ConfigError } from "../../lib/config/mod.ts";

Deno.test("node commands: NODE first, then their own options and the daemon flags in any form", () => {
  assert.equal(isNodeCommand("hold"), true);
  assert.equal(isNodeCommand("status"), false);
  assert.equal(isNodeCommand(undefined), false);
  const a = parseNodeCommandArgs(
    "hold",
    ["n1.example", "--reason", " NIC debugging ", "--kubeconfig", "/tmp/kc", "--by=alice", "--dry-run"],
    {},
  );
  assert.equal(a.node, "n1.example");
  assert.equal(a.reason, "NIC debugging");
  assert.equal(a.by, "alice");
  assert.equal(a.config.kubeconfig, "/tmp/kc");
  assert.equal(a.config.dryRun, true);
  const r = parseNodeCommandArgs("request-reboot", ["n2", "--cancel"], { KREBOOT_KUBECONFIG: "/env/kc" });
  assert.equal(r.cancel, true);
  assert.equal(r.reason, "");
  assert.equal(r.config.kubeconfig, "/env/kc");
});

Deno.test("node commands: bad usage is a one-line ConfigError saying how to call it", () => {
  const bad: [Parameters<typeof parseNodeCommandArgs>[0], string[], RegExp][] = [
    ["hold", [], /hold needs the node name first: kreboot hold NODE --reason/],
    ["hold", ["--reason", "x", "n1"], /needs the node name first/],
    ["hold", ["n1"], /hold needs --reason "why"/],
    ["hold", ["n1", "--reason", "   "], /hold needs --reason/],
    ["hold", ["n1", "--reason"], /--reason needs a value/],
    ["unhold", ["Node_1"], /"Node_1" is not a node name/],
    ["unhold", ["n1", "--reason=x"], /unknown flag --reason/],
    ["request-reboot", ["n1", "--cancel=maybe"], /--cancel: expected true or false/],
    ["request-reboot", ["n1", "stray"], /unexpected argument "stray"/],
    ["unhold", ["n1", "--period=soon"], /--period/],
    ["unhold", ["x".repeat(300)], /is not a node name/],
  ];
  for (const [sub, args, want] of bad) {
    assert.throws(
      () => parseNodeCommandArgs(sub, args, {}),
      (e: unknown) => e instanceof ConfigError && want.test(e.message) && !e.message.includes("\n"),
      `${sub} ${args.join(" ")}`,
    );
  }
});
