/**
 * `--once` against an API server that cannot be reached: it tries for a bounded time (ONCE_RETRY_MS), then
 * exits 1 with one line that says why. The daemon without `--once` keeps retrying (tests/e2e/faults_test.ts).
 */
import assert from "node:assert/strict";
import { ONCE_RETRY_MS } from "../../lib/daemon.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test("--once with the API server unreachable: exit 1 after about 15 s with one line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const kubeconfig = `${dir}/kubeconfig`;
    await Deno.writeTextFile(
      kubeconfig,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{
          name: "c",
          cluster: { server: `https://127.0.0.1:${closedPort()}`, "insecure-skip-tls-verify": true },
        }],
        users: [{ name: "u", user: { token: "t" } }],
        contexts: [{ name: "x", context: { cluster: "c", user: "u" } }],
        "current-context": "x",
      }),
    );
    const t0 = performance.now();
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--no-check",
        MAIN,
        "--once",
        "--dry-run",
        "--node-id=n1",
        `--kubeconfig=${kubeconfig}`,
        `--reboot-sentinel=${dir}/none`,
        "--metrics-host=127.0.0.1",
        `--metrics-port=${closedPort()}`,
      ],
      env: { NO_COLOR: "1" },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const took = performance.now() - t0;
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1, stderr);
    const mine = stderr.split("\n").filter((l) => l.startsWith("kreboot:"));
    assert.equal(mine.length, 1, stderr);
    assert.match(
      mine[0] ?? "",
      /^kreboot: cannot reach the API server \(gave up after 15 s with --once\): .+--kubeconfig/,
    );
    assert.doesNotMatch(stderr, /\n\s+at /, "no stack trace");
    assert.ok(took >= ONCE_RETRY_MS - 1_000, `gave up after ${Math.round(took)} ms`);
    assert.ok(took < ONCE_RETRY_MS + 10_000, `took ${Math.round(took)} ms`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
