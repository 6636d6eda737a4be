/**
 * The lean transport (lib/kube/) against the real kube-apiserver: JSON and the patch types, dry-run, a stale
 * resourceVersion as a conflict, a real 429 with its Retry-After, watches that the server ends (resumed from
 * the last resourceVersion) or answers 410 Gone (listed afresh), and every way of authenticating kreboot meets
 * in clusters: a bearer token, a client certificate, an exec plugin, an in-cluster token file that is rotated
 * on disk; and a TLS failure that names the server.
 */
import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import {
  apiStatus,
  apiStatusBody,
  describeApiError,
  isConflict,
  JSON_PATCH,
  type Kube,
  loadKubeConfig,
  makeKube,
  MERGE_PATCH,
  microTime,
  retryAfterSeconds,
  STRATEGIC_MERGE_PATCH,
} from "../../lib/kube/mod.ts";
import { Credentials } from "../../lib/kube/credentials.ts";
import { startCluster, type TestCluster } from "../harness/mod.ts";
import { eventually } from "./support.ts";

const NS = "transport";

async function openssl(...args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) throw new Error(`openssl ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
}

/** A client CA and a client certificate for user `cert-user` in group system:masters. */
async function clientPki(dir: string): Promise<{ caFile: string; cert: string; key: string }> {
  await Deno.mkdir(dir, { recursive: true });
  const p = (f: string) => `${dir}/${f}`;
  await openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", p("ca.key"));
  await openssl(
    "req",
    "-x509",
    "-new",
    "-key",
    p("ca.key"),
    "-subj",
    "/CN=transport-test-ca",
    "-days",
    "2",
    "-out",
    p("ca.crt"),
  );
  await openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", p("user.key"));
  await openssl(
    "req",
    "-new",
    "-key",
    p("user.key"),
    "-subj",
    "/O=system:masters/CN=cert-user",
    "-out",
    p("user.csr"),
  );
  // rustls takes only X.509 v3 client certificates: give it an extension.
  await Deno.writeTextFile(p("user.ext"), "extendedKeyUsage=clientAuth\n");
  await openssl(
    "x509",
    "-extfile",
    p("user.ext"),
    "-req",
    "-in",
    p("user.csr"),
    "-CA",
    p("ca.crt"),
    "-CAkey",
    p("ca.key"),
    "-CAcreateserial",
    "-days",
    "2",
    "-out",
    p("user.crt"),
  );
  return {
    caFile: p("ca.crt"),
    cert: await Deno.readTextFile(p("user.crt")),
    key: await Deno.readTextFile(p("user.key")),
  };
}

/** A kubeconfig (JSON) for the test cluster with the given user entry. */
async function kubeconfig(c: TestCluster, name: string, user: Record<string, unknown>, caPem = c.cp.caPem) {
  const path = `${c.cp.dir}/kubeconfigs/${name}.json`;
  await Deno.mkdir(`${c.cp.dir}/kubeconfigs`, { recursive: true });
  await Deno.writeTextFile(
    path,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "c", cluster: { server: c.cp.url, "certificate-authority-data": btoa(caPem) } }],
      users: [{ name, user }],
      contexts: [{ name, context: { cluster: "c", user: name } }],
      "current-context": name,
    }),
    { mode: 0o600 },
  );
  return path;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  assert.fail("expected the call to fail");
}

/** The query of the audited requests on `path` with `verb`, in order. */
async function audited(c: TestCluster, verb: string, path: string): Promise<URLSearchParams[]> {
  return (await c.cp.auditEvents("admin"))
    .filter((e) => e.verb === verb && e.stage === "ResponseComplete" && e.requestURI.split("?")[0] === path)
    .map((e) => new URL(e.requestURI, "https://x").searchParams);
}

function leasePath(ns: string): string {
  return `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`;
}

function lease(name: string): k8s.V1Lease {
  return { metadata: { name }, spec: { holderIdentity: "x", leaseDurationSeconds: 30 } };
}

Deno.test("transport e2e: the lean Kube port against the real apiserver", async (t) => {
  const pkiDir = await Deno.makeTempDir({ prefix: "kreboot-transport-pki-" });
  const pki = await clientPki(pkiDir);
  // Without the watch cache, a watch from a compacted revision gets the real 410 Gone (the cache in 1.37 serves
  // an old version silently); with compaction every 10 s, revisions a few seconds old stay watchable.
  await using c = await startCluster({
    audit: true,
    apiserverArgs: [
      `--client-ca-file=${pki.caFile}`,
      "--watch-cache=false",
      "--etcd-compaction-interval=10s",
    ],
  });
  const kube: Kube = makeKube(loadKubeConfig(c.cp.adminKubeconfig), false);
  await c.ensureNamespace(NS);

  await t.step(
    "JSON in and out, the three patch types, dry-run, a stale resourceVersion is a conflict",
    async () => {
      const created = await kube.coord.createNamespacedLease({ namespace: NS, body: lease("a") });
      assert.equal(created.spec?.holderIdentity, "x");
      const rv = created.metadata?.resourceVersion;
      assert.ok(rv);
      const merged = await kube.coord.patchNamespacedLease({
        namespace: NS,
        name: "a",
        body: { metadata: { resourceVersion: rv }, spec: { holderIdentity: "y" } },
      }, MERGE_PATCH);
      assert.equal(merged.spec?.holderIdentity, "y");
      assert.equal(merged.spec?.leaseDurationSeconds, 30, "a merge patch keeps the fields it does not name");
      const stale = await rejection(kube.coord.patchNamespacedLease({
        namespace: NS,
        name: "a",
        body: { metadata: { resourceVersion: rv }, spec: { holderIdentity: "z" } },
      }, MERGE_PATCH));
      assert.ok(isConflict(stale), describeApiError(stale));
      assert.equal(apiStatusBody(stale).reason, "Conflict");

      await c.createNode("t-node");
      const cond = (type: string) => ({ type, status: "True", reason: "Test", message: type });
      await kube.core.patchNodeStatus(
        { name: "t-node", body: { status: { conditions: [cond("A")] } } },
        STRATEGIC_MERGE_PATCH,
      );
      const both = await kube.core.patchNodeStatus(
        { name: "t-node", body: { status: { conditions: [cond("B")] } } },
        STRATEGIC_MERGE_PATCH,
      );
      assert.deepEqual(
        both.status?.conditions?.map((x) => x.type).filter((x) => x === "A" || x === "B").sort(),
        ["A", "B"],
        "a strategic merge patch merges conditions by type",
      );
      await kube.core.patchNode({
        name: "t-node",
        body: [{ op: "add", path: "/metadata/annotations", value: { k: "v" } }],
      }, JSON_PATCH);
      assert.equal((await kube.core.readNode({ name: "t-node" })).metadata?.annotations?.k, "v");

      const dry = makeKube(loadKubeConfig(c.cp.adminKubeconfig), true);
      await dry.coord.createNamespacedLease({ namespace: NS, body: lease("dry"), dryRun: "All" });
      const missing = await rejection(
        kube.coord.patchNamespacedLease({ namespace: NS, name: "dry", body: {} }, MERGE_PATCH),
      );
      assert.equal(apiStatus(missing), 404, "a dryRun=All create stores nothing");
      // A MicroTime goes out with six fractional digits, and date fields come back as the apiserver's strings.
      const ev = await kube.events.createNamespacedEvent({
        namespace: "default",
        body: {
          metadata: { name: "t-event" },
          eventTime: microTime(new Date("2030-01-02T03:04:05.678Z")),
          reportingController: "kreboot.test/transport",
          reportingInstance: "t",
          action: "Test",
          reason: "Test",
          type: "Normal",
          regarding: { kind: "Node", name: "t-node", apiVersion: "v1" },
        },
      });
      assert.equal(ev.eventTime as unknown, "2030-01-02T03:04:05.678000Z");
      assert.equal(typeof ev.metadata?.creationTimestamp, "string");
    },
  );

  await t.step("a real 429 from the eviction API carries its Retry-After", async () => {
    await c.createPod(NS, { name: "guarded", node: "t-node", labels: { app: "guarded" } });
    // No disruption controller runs here: the new PDB stays "still being processed", which the eviction API
    // answers with 429 and a suggested wait.
    await c.createPdb(NS, "guard", { matchLabels: { app: "guarded" }, minAvailable: 1 });
    const e = await rejection(kube.core.createNamespacedPodEviction({
      namespace: NS,
      name: "guarded",
      body: { apiVersion: "policy/v1", kind: "Eviction", metadata: { namespace: NS, name: "guarded" } },
    }));
    assert.equal(apiStatus(e), 429, describeApiError(e));
    const after = retryAfterSeconds(e);
    assert.ok(after !== undefined && after > 0, `Retry-After header: ${after}`);
    assert.equal((apiStatusBody(e).details as { retryAfterSeconds?: number }).retryAfterSeconds, after);
  });

  await t.step(
    "a watch the apiserver ends resumes from the last resourceVersion, without a new list",
    async () => {
      const ns = "transport-watch";
      await c.ensureNamespace(ns);
      const seen: string[] = [];
      let lists = 0;
      let listed = () => {};
      const firstList = new Promise<void>((r) => listed = r);
      const ac = new AbortController();
      const running = kube.watch.follow<k8s.V1Lease>({
        path: leasePath(ns),
        timeoutSeconds: 1,
        onList: (items) => {
          lists++;
          seen.push(...items.map((l) => `LISTED ${l.metadata?.name}`));
          listed();
        },
        onEvent: (type, l) => seen.push(`${type} ${l.metadata?.name}`),
        signal: ac.signal,
      });
      await firstList;
      for (let i = 0; i < 4; i++) {
        await kube.coord.createNamespacedLease({ namespace: ns, body: lease(`w${i}`) });
        await new Promise((r) => setTimeout(r, 1_500)); // the server closes each stream after 1 s
      }
      await eventually("four ADDED events", 15_000, () => seen.length >= 4 ? true : undefined);
      ac.abort();
      await running;
      assert.equal(lists, 1, "only the first list");
      assert.deepEqual(
        seen,
        ["ADDED w0", "ADDED w1", "ADDED w2", "ADDED w3"],
        "each change once, none replayed",
      );
      const watches = await audited(c, "watch", leasePath(ns));
      assert.ok(watches.length >= 4, `the server ended the stream ${watches.length - 1} times`);
      const rvs = watches.map((q) => Number(q.get("resourceVersion")));
      assert.ok(
        rvs.every((v, i) => v > 0 && (i === 0 || v >= rvs[i - 1]!)),
        `resumed from ${rvs.join(", ")}`,
      );
      assert.ok(rvs.at(-1)! > rvs[0]!, "later streams start after the events already seen");
      assert.ok(watches.every((q) => q.get("allowWatchBookmarks") === "true"));
      assert.equal((await audited(c, "list", leasePath(ns))).length, 1);
    },
  );

  await t.step("a TLS failure names the server", async () => {
    const other = await Deno.readTextFile(pki.caFile); // a CA that did not sign the apiserver's certificate
    const wrong = makeKube(
      loadKubeConfig(await kubeconfig(c, "wrong-ca", { token: c.cp.adminToken }, other)),
      false,
    );
    const e = await rejection(wrong.core.listNode());
    assert.equal(apiStatus(e), undefined);
    const msg = describeApiError(e);
    assert.ok(msg.includes(c.cp.url), msg);
    assert.match(msg, /certificate|UnknownIssuer/i);
  });

  await t.step("a client certificate authenticates (mTLS through Deno.createHttpClient)", async () => {
    const path = await kubeconfig(c, "cert-user", {
      "client-certificate-data": btoa(pki.cert),
      "client-key-data": btoa(pki.key),
    });
    const viaCert = makeKube(loadKubeConfig(path), false);
    assert.ok((await viaCert.core.listNode()).items.some((n) => n.metadata?.name === "t-node"));
  });

  await t.step("an exec-plugin kubeconfig authenticates", async () => {
    const dir = `${c.cp.dir}/exec`;
    await Deno.mkdir(dir, { recursive: true });
    const script = `${dir}/credential.sh`;
    await Deno.writeTextFile(`${dir}/token`, c.cp.adminToken);
    await Deno.writeTextFile(
      script,
      `#!/bin/sh\necho run >> "${dir}/runs"\nprintf '{"apiVersion":"client.authentication.k8s.io/v1",` +
        `"kind":"ExecCredential","status":{"token":"%s"}}' "$(cat "${dir}/token")"\n`,
      { mode: 0o755 },
    );
    const path = await kubeconfig(c, "exec-user", {
      exec: { apiVersion: "client.authentication.k8s.io/v1", command: script, interactiveMode: "Never" },
    });
    const viaExec = makeKube(loadKubeConfig(path), false);
    assert.ok((await viaExec.core.listNode()).items.length > 0);
    assert.ok((await Deno.readTextFile(`${dir}/runs`)).includes("run"), "the plugin ran");

    await Deno.writeTextFile(`${dir}/token`, "not-a-token");
    const bad = makeKube(loadKubeConfig(path), false);
    assert.equal(apiStatus(await rejection(bad.core.listNode())), 401, "the plugin's token is what is sent");
  });

  await t.step(
    "in-cluster: a token file rotated on disk is picked up (re-read each minute)",
    async () => {
      const root = `${c.cp.dir}/incluster`;
      const sa = `${root}/var/run/secrets/kubernetes.io/serviceaccount`;
      await Deno.mkdir(sa, { recursive: true });
      await Deno.writeTextFile(`${sa}/ca.crt`, c.cp.caPem);
      await Deno.writeTextFile(`${sa}/namespace`, NS);
      await Deno.writeTextFile(`${sa}/token`, "expired-token");
      const port = new URL(c.cp.url).port;
      const saved = {
        host: Deno.env.get("KUBERNETES_SERVICE_HOST"),
        port: Deno.env.get("KUBERNETES_SERVICE_PORT"),
      };
      Deno.env.set("KUBERNETES_SERVICE_HOST", "127.0.0.1");
      Deno.env.set("KUBERNETES_SERVICE_PORT", port);
      let kc: Credentials;
      try {
        kc = Credentials.inCluster(root);
      } finally {
        for (
          const [k, v] of [["KUBERNETES_SERVICE_HOST", saved.host], ["KUBERNETES_SERVICE_PORT", saved.port]]
        ) {
          if (v === undefined) Deno.env.delete(k!);
          else Deno.env.set(k!, v);
        }
      }
      const inCluster = makeKube(kc, false);
      assert.equal(apiStatus(await rejection(inCluster.core.listNode())), 401);
      await Deno.writeTextFile(`${sa}/token`, c.cp.adminToken);
      const started = Date.now();
      await eventually(
        "the rotated token in use",
        75_000,
        () =>
          inCluster.core.listNode().then(() => true, (e) => {
            if (apiStatus(e) !== 401) {
              throw e;
            }
            return undefined;
          }),
        1_000,
      );
      assert.ok(Date.now() - started <= 75_000);
    },
  );

  await t.step("410 Gone (a resourceVersion too old) leads to a fresh list", async () => {
    const ns = "transport-gone";
    await c.ensureNamespace(ns);
    // The apiserver runs without its watch cache and compacts etcd every 10 s, so revision 1 is gone by now;
    // wait until the server says so on a plain watch.
    await eventually("revision 1 compacted away", 40_000, async () => {
      const status = await new Promise<number | undefined>((resolve) => {
        let code: number | undefined;
        kube.watch.watch(leasePath(ns), { resourceVersion: "1", timeoutSeconds: 1 }, (type, obj) => {
          if (type === "ERROR") code = (obj as { code?: number }).code;
        }, () => resolve(code));
      });
      return status === 410 ? true : undefined;
    }, 2_000);
    await kube.coord.createNamespacedLease({ namespace: ns, body: lease("old") });
    const listed: string[][] = [];
    const events: string[] = [];
    const errors: unknown[] = [];
    const ac = new AbortController();
    const running = kube.watch.follow<k8s.V1Lease>({
      path: leasePath(ns),
      resourceVersion: "1",
      onList: (items) => listed.push(items.map((l) => l.metadata?.name ?? "")),
      onEvent: (type, l) => events.push(`${type} ${l.metadata?.name}`),
      onError: (e) => errors.push(e),
      signal: ac.signal,
    });
    await eventually("a fresh list", 15_000, () => listed.length > 0 ? true : undefined);
    assert.deepEqual(listed, [["old"]]);
    await kube.coord.createNamespacedLease({ namespace: ns, body: lease("new") });
    await eventually(
      "the watch after the list",
      15_000,
      () => events.includes("ADDED new") ? true : undefined,
    );
    ac.abort();
    await running;
    assert.deepEqual(errors, [], "410 is not an error to report");
    // After the list, the watch goes on from the list's version. The audit log has a watch once it ended
    // (stage ResponseComplete), a moment after the abort: wait for it.
    await eventually("the watch from the list's version in the audit log", 10_000, async () => {
      const watches = await audited(c, "watch", leasePath(ns));
      return Number(watches.at(-1)?.get("resourceVersion")) > 1 ? true : undefined;
    }, 500);
    assert.equal((await audited(c, "list", leasePath(ns))).length, 1, "one fresh list");
  });

  await Deno.remove(pkiDir, { recursive: true });
});
