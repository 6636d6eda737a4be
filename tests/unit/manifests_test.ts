import assert from "node:assert/strict";
import { loadAllYaml, type V1Container, type V1DaemonSet, type V1PodSpec } from "@kubernetes/client-node";
import { defaultImageNote, type ManifestOptions, renderManifests } from "../../lib/cli/manifests.ts";
import { type Config, configToJson, parseConfig } from "../../lib/config/mod.ts";
import { daemonGrants } from "../../lib/rbac.ts";
import { allowed, type ApiCall, ruleAllows } from "../harness/rbac_match.ts";
import { EVENT_NAMESPACE } from "../../lib/report/events.ts";

const DEFAULTS: ManifestOptions = { namespace: "kube-system", image: "", prometheusOperator: false };

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

function render(flags: string[], opts: Partial<ManifestOptions> = {}): { config: Config; objects: Obj[] } {
  const { config } = parseConfig(flags, {});
  const yaml = renderManifests(config, { ...DEFAULTS, ...opts });
  // loadAllYaml builds client-node model classes for known kinds; plain JSON compares with literals.
  return { config, objects: JSON.parse(JSON.stringify(loadAllYaml(yaml))) as Obj[] };
}

function must<T>(v: T | undefined | null, what: string): T {
  assert.ok(v !== undefined && v !== null, `missing: ${what}`);
  return v;
}

function daemonSet(objects: Obj[]): V1DaemonSet {
  return must(objects.find((o) => o.kind === "DaemonSet"), "a DaemonSet") as V1DaemonSet;
}

function podSpec(objects: Obj[]): V1PodSpec {
  return must(daemonSet(objects).spec?.template.spec, "the pod template's spec");
}

function container(objects: Obj[]): V1Container {
  return must(podSpec(objects).containers[0], "the container");
}

function args(objects: Obj[]): string[] {
  return container(objects).args ?? [];
}

/** A field path into a parsed object, for the kinds client-node has no types for. */
function at(o: unknown, ...path: (string | number)[]): unknown {
  let v = o;
  for (const k of path) v = (v as Record<string | number, unknown> | undefined)?.[k];
  return v;
}

Deno.test("deploy/kreboot.yaml is `kreboot manifests` with defaults (regenerate: deno task manifests > deploy/kreboot.yaml)", async () => {
  const committed = await Deno.readTextFile(new URL("../../deploy/kreboot.yaml", import.meta.url));
  const { config } = parseConfig([], {});
  assert.equal(
    committed,
    `${renderManifests(config, DEFAULTS)}\n`,
    "deploy/kreboot.yaml is stale: run `deno task manifests > deploy/kreboot.yaml`",
  );
});

Deno.test("manifests: the kinds, in apply order, with RBAC where each rule applies", () => {
  const { objects } = render([]);
  assert.deepEqual(objects.map((o) => `${o.kind} ${o.metadata.namespace ?? "-"}/${o.metadata.name}`), [
    "ServiceAccount kube-system/kured",
    "ClusterRole -/kured",
    "ClusterRoleBinding -/kured",
    "Role kube-system/kured",
    "RoleBinding kube-system/kured",
    `Role ${EVENT_NAMESPACE}/kured-${EVENT_NAMESPACE}`,
    `RoleBinding ${EVENT_NAMESPACE}/kured-${EVENT_NAMESPACE}`,
    "DaemonSet kube-system/kured",
  ]);
  for (const o of objects.filter((o) => o.kind.endsWith("Binding"))) {
    assert.deepEqual(o.subjects, [{
      kind: "ServiceAccount",
      name: "kured",
      namespace: "kube-system",
    }]);
    assert.equal(at(o, "roleRef", "name"), o.metadata.name);
  }
  // Events only in "default": no cluster-wide event rule.
  const cr = objects.find((o) => o.kind === "ClusterRole");
  assert.ok(!JSON.stringify(cr?.rules).includes("events"), "no cluster-wide events rule");
});

Deno.test("manifests: the DaemonSet runs privileged on the host's PID namespace, on every node", () => {
  const { objects } = render([]);
  const ds = daemonSet(objects);
  const pod = podSpec(objects);
  const c = container(objects);
  assert.equal(pod.hostPID, true);
  assert.equal(pod.serviceAccountName, "kured");
  assert.equal(c.securityContext?.privileged, true);
  assert.deepEqual(ds.spec?.updateStrategy, { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } });
  assert.ok(
    pod.tolerations?.some((t) =>
      t.key === "node-role.kubernetes.io/control-plane" && t.operator === "Exists"
    ),
  );
  assert.deepEqual(c.env, [{
    name: "KREBOOT_NODE_ID",
    valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } },
  }]);
  assert.deepEqual(c.ports, [{ name: "metrics", containerPort: 8080, protocol: "TCP" }]);
  assert.equal(c.livenessProbe?.httpGet?.path, "/healthz");
  assert.equal(c.livenessProbe?.httpGet?.port, "metrics");
  assert.ok(c.resources?.requests?.memory && c.resources.limits?.memory && c.resources.requests.cpu);
  assert.deepEqual(c.args, ["--reboot-sentinel=/sentinel/reboot-required"]);
  assert.deepEqual(pod.volumes?.[0], { name: "sentinel", hostPath: { path: "/var/run", type: "Directory" } });
  assert.deepEqual(c.volumeMounts?.[0], { name: "sentinel", mountPath: "/sentinel", readOnly: true });
  assert.equal(ds.spec?.selector.matchLabels?.["app.kubernetes.io/instance"], "kured");
  assert.deepEqual(ds.spec?.template.metadata?.labels, ds.spec?.selector.matchLabels);
});

Deno.test("manifests: --namespace, --image, the metrics port and the DaemonSet name reach every object", () => {
  const { objects } = render(["--ds-name=kreboot", "--metrics-port=9100"], {
    namespace: "ops",
    image: "registry.example/kreboot:dev",
  });
  const c = container(objects);
  assert.equal(c.image, "registry.example/kreboot:dev");
  assert.deepEqual(c.ports?.[0]?.containerPort, 9100);
  assert.ok(
    args(objects).includes("--ds-namespace=ops"),
    "the daemon looks for its lock where it is installed",
  );
  assert.ok(args(objects).includes("--ds-name=kreboot"));
  for (const o of objects) {
    if (o.kind.startsWith("Cluster")) assert.equal(o.metadata.namespace, undefined);
    else if (o.metadata.name === `kreboot-${EVENT_NAMESPACE}`) {
      assert.equal(o.metadata.namespace, EVENT_NAMESPACE);
    } else assert.equal(o.metadata.namespace, "ops", `${o.kind} ${o.metadata.name}`);
  }
  const role = objects.find((o) => o.kind === "Role" && o.metadata.namespace === "ops");
  assert.ok(
    JSON.stringify(role?.rules).includes('"resourceNames":["kreboot"]'),
    "the DaemonSet rule names it",
  );
});

Deno.test("manifests: the sentinel's host directory is mounted; a sentinel command mounts nothing", () => {
  const mounted = (flag: string) => {
    const { objects } = render([flag]);
    return {
      arg: args(objects).find((a) => a.startsWith("--reboot-sentinel=")),
      hostDir: podSpec(objects).volumes?.find((v) => v.name === "sentinel")?.hostPath?.path,
      mountPath: container(objects).volumeMounts?.find((m) => m.name === "sentinel")?.mountPath,
    };
  };
  assert.deepEqual(mounted("--reboot-sentinel=/host/flags/needs-reboot"), {
    arg: "--reboot-sentinel=/sentinel/needs-reboot",
    hostDir: "/host/flags",
    mountPath: "/sentinel",
  });
  // kured's own manifests already pass the in-container path, meaning host /var/run.
  assert.deepEqual(mounted("--reboot-sentinel=/sentinel/reboot-required"), {
    arg: "--reboot-sentinel=/sentinel/reboot-required",
    hostDir: "/var/run",
    mountPath: "/sentinel",
  });
  const { objects } = render(["--reboot-sentinel-command=test -f /run/reboot"]);
  assert.ok(!args(objects).some((a) => a.startsWith("--reboot-sentinel=")));
  assert.ok(!container(objects).volumeMounts?.some((m) => m.name === "sentinel"));
  assert.ok(!podSpec(objects).volumes?.some((v) => v.name === "sentinel"));
});

/** What `kreboot config` would print, minus the fields `manifests` sets on purpose. */
function comparable(config: Config): Record<string, unknown> {
  const json = configToJson(config);
  for (const k of ["node-id", "kubeconfig", "ds-namespace", "reboot-sentinel"]) delete json[k];
  return json;
}

const FLAG_SETS: string[][] = [
  [],
  [
    "--period=10m",
    "--concurrency=25%",
    "--reboot-days=mo,tu",
    "--start-time=2:00",
    "--end-time=5:30",
    "--time-zone=Europe/Berlin",
    "--blocking-pod-selector=app=db,tier=primary",
    "--blocking-pod-selector=team=payments",
    "--drain-timeout=30m",
    "--drain-grace-period=60",
    "--drain-pod-selector=app!=critical",
    "--metrics-port=9100",
    "--annotate-nodes",
    "--pre-reboot-node-labels=kreboot=draining,zone=a",
    "--post-reboot-node-labels=kreboot=done",
    "--log-format=json",
    "--prefer-no-schedule-taint=weave.works/kured-node-reboot",
  ],
  [
    "--ds-name=kreboot",
    "--reboot-sentinel-command=test -f '/run/reboot needed'",
    "--reboot-method=signal",
    "--reboot-signal=40",
    "--reboot-command=/usr/bin/systemctl reboot --force",
    "--prometheus-url=http://prometheus.monitoring:9090",
    "--alert-filter-regexp=^(Watchdog|InfoInhibitor)$",
    "--alert-firing-only",
    "--lock-ttl=2h",
    "--lock-release-delay=5m",
    "--notify-url=smtp://user:secret@mail.example:465/?fromAddress=a@example.com&toAddresses=b@example.com",
    "--message-template-drain=Draining %s now",
    "--force-reboot",
    "--dry-run",
  ],
  ["--slack-hook-url=https://hooks.slack.com/services/T000/B000/XXXX", "--reboot-days=", "--concurrency=3"],
  ["--reboot-sentinel=/host/flags/needs-reboot", "--ds-namespace=elsewhere"],
];

for (const flags of FLAG_SETS) {
  Deno.test(`manifests round-trip: the DaemonSet's args parse back to the same config (${flags.length} flags)`, () => {
    const { config, objects } = render(flags);
    const back = parseConfig(args(objects), {}).config;
    assert.deepEqual(comparable(back), comparable(config));
    assert.equal(back.dsNamespace, "kube-system", "the lock lives where the DaemonSet is installed");
    assert.equal(back.nodeId, "", "the node name comes from spec.nodeName, not from the args");
    if (config.rebootSentinelCommand.length === 0) {
      const mountPath = container(objects).volumeMounts?.find((m) => m.name === "sentinel")?.mountPath;
      assert.equal(back.rebootSentinel, `${mountPath}/${config.rebootSentinel.split("/").pop()}`);
    }
  });
}

Deno.test("manifests --prometheus-operator: a Service, a ServiceMonitor and the RebootRequired alert", () => {
  const { objects } = render([], { prometheusOperator: true });
  const extra = objects.slice(-3);
  assert.deepEqual(extra.map((o) => `${o.apiVersion} ${o.kind}`), [
    "v1 Service",
    "monitoring.coreos.com/v1 ServiceMonitor",
    "monitoring.coreos.com/v1 PrometheusRule",
  ]);
  const [svc, sm, rule] = extra;
  assert.deepEqual(at(svc, "spec", "selector"), daemonSet(objects).spec?.selector.matchLabels);
  assert.deepEqual(at(sm, "spec", "selector", "matchLabels"), svc?.metadata.labels);
  assert.equal(at(sm, "spec", "endpoints", 0, "port"), at(svc, "spec", "ports", 0, "name"));
  const alert = at(rule, "spec", "groups", 0, "rules", 0);
  assert.equal(at(alert, "alert"), "RebootRequired");
  assert.equal(at(alert, "expr"), "max(kured_reboot_required) != 0");
  assert.equal(at(alert, "for"), "24h");
  assert.equal(render([]).objects.length, objects.length - 3, "only with the option");
});

const call = (c: Partial<ApiCall> & Pick<ApiCall, "verb" | "resource">): ApiCall => ({ apiGroup: "", ...c });

Deno.test("rbac matcher: group, resource/subresource, verb, resourceNames and wildcards as RBAC matches them", () => {
  const rule = {
    apiGroups: ["apps"],
    resources: ["daemonsets"],
    verbs: ["get", "watch"],
    resourceNames: ["k"],
  };
  assert.ok(ruleAllows(rule, call({ verb: "get", apiGroup: "apps", resource: "daemonsets", name: "k" })));
  assert.ok(!ruleAllows(rule, call({ verb: "get", apiGroup: "apps", resource: "daemonsets", name: "x" })));
  assert.ok(!ruleAllows(rule, call({ verb: "list", apiGroup: "apps", resource: "daemonsets" })), "no name");
  assert.ok(!ruleAllows(rule, call({ verb: "get", apiGroup: "", resource: "daemonsets", name: "k" })));
  assert.ok(!ruleAllows(rule, call({ verb: "update", apiGroup: "apps", resource: "daemonsets", name: "k" })));
  const pods = { apiGroups: [""], resources: ["pods"], verbs: ["*"] };
  assert.ok(ruleAllows(pods, call({ verb: "delete", resource: "pods" })));
  assert.ok(
    !ruleAllows(pods, call({ verb: "create", resource: "pods", subresource: "eviction" })),
    "subresource",
  );
  const all = { apiGroups: ["*"], resources: ["*"], verbs: ["get"] };
  assert.ok(
    ruleAllows(all, call({ verb: "get", apiGroup: "x.io", resource: "things", subresource: "status" })),
  );
});

Deno.test("rbac grants: a Role covers its namespace only; cluster rules cover every namespace", () => {
  const grants = daemonGrants("kured", "kube-system");
  const lease = call({ verb: "create", apiGroup: "coordination.k8s.io", resource: "leases" });
  assert.ok(allowed(grants, { ...lease, namespace: "kube-system" }));
  assert.ok(!allowed(grants, { ...lease, namespace: "default" }));
  assert.ok(!allowed(grants, lease), "not cluster-wide");
  const event = call({ verb: "create", apiGroup: "events.k8s.io", resource: "events" });
  assert.ok(allowed(grants, { ...event, namespace: EVENT_NAMESPACE }));
  assert.ok(!allowed(grants, { ...event, namespace: "kube-system" }));
  assert.ok(
    allowed(grants, call({ verb: "create", resource: "pods", subresource: "eviction", namespace: "any" })),
  );
  assert.ok(allowed(grants, call({ verb: "patch", resource: "nodes", subresource: "status", name: "n" })));
  assert.ok(!allowed(grants, call({ verb: "update", resource: "nodes", name: "n" })));
  assert.ok(!allowed(grants, call({ verb: "list", resource: "secrets" })));
});

Deno.test("README's RBAC table lists exactly the generated rules", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const start = readme.indexOf("| where ");
  assert.ok(start >= 0, "README has the RBAC table");
  const rows = readme.slice(start).split("\n").slice(2).map((l) => l.trim()).filter((l, i, all) =>
    l.startsWith("|") && all.slice(0, i).every((p) => p.startsWith("|"))
  ).map((l) => l.split("|").slice(1, -1).map((c) => c.trim()));
  const scope = (ns: string | undefined) =>
    ns === undefined ? "cluster" : ns === "kube-system" ? "the DaemonSet's namespace" : `\`${ns}\``;
  const expected = daemonGrants("kured", "kube-system").flatMap((g) =>
    g.rules.flatMap((r) => r.resources.map((res) => [scope(g.namespace), res, r.verbs.join(", ")]))
  );
  assert.deepEqual(
    rows.map(([where, what, verbs]) => [where, what?.match(/`([a-z/]+)`(?:[ ,]|$)/)?.[1], verbs]),
    expected,
  );
  // A rule limited to resourceNames says so.
  const named = daemonGrants("kured", "kube-system").flatMap((g) => g.rules)
    .filter((r) => (r.resourceNames ?? []).length > 0).flatMap((r) => r.resources);
  for (const [, what] of rows) {
    if (named.some((n) => what?.includes(`\`${n}\``))) assert.match(what ?? "", /by name/);
  }
});

Deno.test("`kreboot manifests` says on stderr, in one line, that the default image is not published yet", async () => {
  const run = async (...extra: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("../../main.ts", import.meta.url).pathname, "manifests", ...extra],
      stdin: "null",
      // No KREBOOT_*/KURED_* variables of the caller: only what deno itself needs.
      env: Object.fromEntries(
        ["HOME", "DENO_DIR", "PATH"].flatMap((k) => Deno.env.get(k) ? [[k, Deno.env.get(k)!]] : []),
      ),
      clearEnv: true,
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    return { stdout: new TextDecoder().decode(out.stdout), stderr: new TextDecoder().decode(out.stderr) };
  };
  const dflt = await run();
  assert.match(dflt.stdout, /image: ghcr\.io\/kreboot\/kreboot:/);
  assert.equal(
    dflt.stderr,
    `${defaultImageNote()}\n`,
    "exactly the note, nothing else on stderr",
  );
  assert.match(
    dflt.stderr,
    /^kreboot manifests: note: no image has been published as \S+ yet; .*--image=<yours>/,
  );
  const own = await run("--image=registry.example/kreboot:1");
  assert.match(own.stdout, /image: registry\.example\/kreboot:1/);
  assert.equal(own.stderr, "", "no note for an image of your own");
});
