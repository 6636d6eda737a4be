/**
 * The generated manifests are valid for a real kube-apiserver: `kubectl apply --dry-run=server` and a real
 * apply of deploy/kreboot.yaml, with the kubectl built alongside the control plane (admin credentials), and the
 * --prometheus-operator objects against minimal CRDs for their kinds.
 */
import assert from "node:assert/strict";
import { fileURLToPath as fromFileUrl } from "node:url";
import { startCluster } from "../harness/mod.ts";

const DEPLOY = fromFileUrl(new URL("../../deploy/kreboot.yaml", import.meta.url));
const MAIN = fromFileUrl(new URL("../../main.ts", import.meta.url));

/** `kreboot manifests <args>` as a user runs it (no environment beyond PATH/HOME, so no KREBOOT_* leaks in). */
async function manifests(...args: string[]): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "manifests", ...args],
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "", HOME: Deno.env.get("HOME") ?? "/tmp" },
    stdin: "null",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `kreboot manifests ${args.join(" ")} failed: ${err}`);
  return new TextDecoder().decode(out.stdout);
}

/** A CRD that accepts any spec, enough for the apiserver to validate the objects' envelope. */
function looseCrd(kind: string, plural: string): Record<string, unknown> {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${plural}.monitoring.coreos.com` },
    spec: {
      group: "monitoring.coreos.com",
      scope: "Namespaced",
      names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
      versions: [{
        name: "v1",
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
        },
      }],
    },
  };
}

Deno.test("manifests e2e: kubectl applies the generated objects (server dry-run, then for real)", async (t) => {
  await using cluster = await startCluster();
  const kubectl = async (...args: string[]) => {
    const r = await cluster.cp.kubectl(...args);
    assert.equal(r.code, 0, `kubectl ${args.join(" ")}:\n${r.stderr}${r.stdout}`);
    return r.stdout;
  };

  await t.step("deploy/kreboot.yaml: server-side dry run creates nothing", async () => {
    const out = await kubectl("apply", "--dry-run=server", "-f", DEPLOY);
    for (
      const obj of [
        "serviceaccount/kured",
        "clusterrole.rbac.authorization.k8s.io/kured",
        "clusterrolebinding.rbac.authorization.k8s.io/kured",
        "role.rbac.authorization.k8s.io/kured",
        "rolebinding.rbac.authorization.k8s.io/kured",
        "role.rbac.authorization.k8s.io/kured-default",
        "rolebinding.rbac.authorization.k8s.io/kured-default",
        "daemonset.apps/kured",
      ]
    ) {
      assert.match(out, new RegExp(`^${obj.replaceAll(".", "\\.")} created \\(server dry run\\)$`, "m"), out);
    }
    const get = await cluster.cp.kubectl("-n", "kube-system", "get", "daemonset", "kured");
    assert.notEqual(get.code, 0, "a dry run must not create the DaemonSet");
    assert.match(get.stderr, /NotFound/);
  });

  await t.step("deploy/kreboot.yaml: a real apply, then a second apply changes nothing", async () => {
    await kubectl("apply", "-f", DEPLOY);
    const ds = JSON.parse(await kubectl("-n", "kube-system", "get", "daemonset", "kured", "-o", "json"));
    const pod = ds.spec.template.spec;
    assert.equal(pod.hostPID, true);
    assert.equal(pod.containers[0].securityContext.privileged, true);
    assert.equal(pod.serviceAccountName, "kured");
    const events = await kubectl("-n", "default", "get", "role", "kured-default", "-o", "jsonpath={.rules}");
    assert.match(events, /events\.k8s\.io/);
    // The SA may do what the daemon needs, and no more (a few spot checks through the real authorizer).
    const can = async (...args: string[]) =>
      (await cluster.cp.kubectl("auth", "can-i", "--as=system:serviceaccount:kube-system:kured", ...args))
        .stdout.trim();
    assert.equal(await can("create", "pods", "--subresource=eviction", "-n", "work"), "yes");
    assert.equal(await can("patch", "nodes", "--subresource=status"), "yes");
    assert.equal(await can("create", "events.events.k8s.io", "-n", "default"), "yes");
    assert.equal(await can("create", "events.events.k8s.io", "-n", "kube-system"), "no");
    assert.equal(await can("patch", "leases.coordination.k8s.io", "-n", "kube-system"), "yes");
    assert.equal(await can("patch", "leases.coordination.k8s.io", "-n", "default"), "no");
    assert.equal(await can("update", "daemonsets.apps/kured", "-n", "kube-system"), "no");
    assert.equal(await can("get", "secrets", "-n", "kube-system"), "no");
    const again = await kubectl("apply", "-f", DEPLOY);
    assert.ok(
      again.trim().split("\n").every((l) => l.endsWith(" unchanged")),
      `a re-apply is a no-op:\n${again}`,
    );
  });

  await t.step("kreboot manifests with flags, a namespace and --prometheus-operator", async () => {
    const crds = await Deno.makeTempFile({ suffix: ".json" });
    const file = await Deno.makeTempFile({ suffix: ".yaml" });
    try {
      await Deno.writeTextFile(
        crds,
        JSON.stringify({
          apiVersion: "v1",
          kind: "List",
          items: [
            looseCrd("ServiceMonitor", "servicemonitors"),
            looseCrd("PrometheusRule", "prometheusrules"),
          ],
        }),
      );
      await kubectl("apply", "-f", crds);
      await kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", crds);
      await kubectl("create", "namespace", "ops");
      await Deno.writeTextFile(
        file,
        await manifests(
          "--namespace=ops",
          "--image=registry.example/kreboot:dev",
          "--prometheus-operator",
          "--ds-name=kreboot",
          "--concurrency=2",
          "--blocking-pod-selector=app=db",
          "--reboot-days=sa,su",
          "--metrics-port=9100",
        ),
      );
      await kubectl("apply", "--dry-run=server", "-f", file);
      const out = await kubectl("apply", "-f", file);
      assert.match(out, /^servicemonitor\.monitoring\.coreos\.com\/kreboot created$/m, out);
      assert.match(out, /^prometheusrule\.monitoring\.coreos\.com\/kreboot created$/m, out);
      assert.match(out, /^service\/kreboot created$/m, out);
      const args = JSON.parse(
        await kubectl(
          "-n",
          "ops",
          "get",
          "ds",
          "kreboot",
          "-o",
          "jsonpath={.spec.template.spec.containers[0].args}",
        ),
      );
      assert.ok(args.includes("--ds-namespace=ops") && args.includes("--concurrency=2"), String(args));
      const expr = await kubectl(
        "-n",
        "ops",
        "get",
        "prometheusrule",
        "kreboot",
        "-o",
        "jsonpath={.spec.groups[0].rules[0].expr}",
      );
      assert.equal(expr, "max(kured_reboot_required) != 0");
    } finally {
      await Deno.remove(crds);
      await Deno.remove(file);
    }
  });
});
