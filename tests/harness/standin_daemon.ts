/**
 * A stand-in for the daemon, for harness tests that must not depend on main.ts. It takes the daemon's harness
 * flags, logs JSON lines, reads its node's bootID with the given kubeconfig (so RBAC applies), and runs the
 * reboot command once the sentinel exists, like the real daemon's happy path without any locking.
 */
import { describeApiError, loadKubeConfig, makeKube } from "../../lib/kube/mod.ts";

function flag(name: string): string {
  const prefix = `--${name}=`;
  const arg = Deno.args.find((a) => a.startsWith(prefix));
  if (arg === undefined) {
    console.error(JSON.stringify({ level: "error", msg: `missing flag --${name}` }));
    Deno.exit(2);
  }
  return arg.slice(prefix.length);
}

const node = flag("node-id");
const sentinel = flag("reboot-sentinel");
const rebootCommand = flag("reboot-command").split(/\s+/).filter((s) => s !== "");
const kube = makeKube(loadKubeConfig(flag("kubeconfig")), false);
const log = (msg: string, fields: Record<string, unknown> = {}) =>
  console.log(JSON.stringify({ time: new Date().toISOString(), level: "info", node, msg, ...fields }));

const ac = new AbortController();
Deno.addSignalListener("SIGTERM", () => ac.abort());
const sleep = (ms: number) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    ac.signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });

let bootID: string;
try {
  bootID = (await kube.core.readNode({ name: node })).status?.nodeInfo?.bootID ?? "";
} catch (e) {
  console.log(JSON.stringify({ level: "error", node, msg: "cannot read node", error: describeApiError(e) }));
  Deno.exit(1);
}
log("started", { bootID, pid: Deno.pid });

while (!ac.signal.aborted) {
  const required = await Deno.stat(sentinel).then(() => true, () => false);
  if (required) {
    log("reboot required, rebooting", { command: rebootCommand });
    const [program, ...args] = rebootCommand;
    if (program === undefined) throw new Error("empty --reboot-command");
    const out = await new Deno.Command(program, { args }).output();
    log("reboot command finished", { code: out.code });
    // A real reboot kills us; wait for it.
    await sleep(60_000);
  }
  await sleep(100);
}
log("shutting down", { reason: "SIGTERM" });
Deno.exit(0);
