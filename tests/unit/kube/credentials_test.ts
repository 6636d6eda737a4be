/**
 * lib/kube/credentials.ts against client-node's own `KubeConfig` on the same kubeconfig files: the same
 * cluster, user and per-request options (CA, client certificate, token, basic auth, impersonation, token file),
 * plus kubectl's merge rule for `$KUBECONFIG`, in-cluster config and what is refused.
 */
import assert from "node:assert/strict";
import * as k8s from "@kubernetes/client-node";
import { Credentials, type HttpsOptions } from "../../../lib/kube/credentials.ts";
import { loadKubeConfig } from "../../../lib/kube/mod.ts";

const CA = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";

async function dir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "kreboot-creds-" });
}

function config(users: unknown[], extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{
      name: "c",
      cluster: { server: "https://10.0.0.1:6443/", "certificate-authority-data": btoa(CA) },
    }],
    users,
    contexts: [{ name: "ctx", context: { cluster: "c", user: (users[0] as { name: string }).name } }],
    "current-context": "ctx",
    ...extra,
  });
}

/** The options both sources fill in for one request, with bytes as text. */
async function applied(
  src: { applyToHTTPSOptions(o: never): Promise<void> },
): Promise<Record<string, unknown>> {
  const o: HttpsOptions = {};
  await src.applyToHTTPSOptions(o as never);
  const text = (v: unknown) => v === undefined ? undefined : new TextDecoder().decode(v as Uint8Array);
  return {
    ca: text(o.ca),
    cert: text(o.cert),
    key: text(o.key),
    auth: o.auth,
    authorization: o.headers?.Authorization,
    impersonate: o.headers?.["Impersonate-User"],
  };
}

function clientNode(path: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

Deno.test("credentials: the same cluster and request options as client-node's KubeConfig", async () => {
  const d = await dir();
  await Deno.mkdir(`${d}/pki`);
  await Deno.writeTextFile(`${d}/pki/user.crt`, "CERT");
  await Deno.writeTextFile(`${d}/pki/user.key`, "KEY");
  const cases: Record<string, unknown[]> = {
    token: [{ name: "u", user: { token: "t0k3n" } }],
    "relative certificate files": [{
      name: "u",
      user: { "client-certificate": "pki/user.crt", "client-key": "pki/user.key" },
    }],
    "certificate data": [{
      name: "u",
      user: { "client-certificate-data": btoa("CD"), "client-key-data": btoa("KD") },
    }],
    "basic auth and impersonation": [{ name: "u", user: { username: "alice", password: "pw", as: "bob" } }],
  };
  try {
    for (const [what, users] of Object.entries(cases)) {
      const path = `${d}/${what.replaceAll(" ", "-")}.json`;
      await Deno.writeTextFile(path, config(users));
      const ours = Credentials.fromFile(path);
      const theirs = clientNode(path);
      assert.deepEqual(ours.getCurrentCluster(), theirs.getCurrentCluster(), what);
      assert.deepEqual(await applied(ours), await applied(theirs), what);
    }
    assert.equal(
      Credentials.fromFile(`${d}/token.json`).getCurrentCluster()?.server,
      "https://10.0.0.1:6443",
    );
  } finally {
    await Deno.remove(d, { recursive: true });
  }
});

Deno.test("credentials: $KUBECONFIG merges files, the first to name an entry or a context wins (kubectl)", async () => {
  const d = await dir();
  const saved = Deno.env.get("KUBECONFIG");
  try {
    await Deno.writeTextFile(`${d}/a.json`, config([{ name: "u", user: { token: "from-a" } }]));
    await Deno.writeTextFile(
      `${d}/b.json`,
      JSON.stringify({
        clusters: [{ name: "other", cluster: { server: "https://10.0.0.2" } }],
        users: [{ name: "u", user: { token: "from-b" } }, { name: "v", user: { token: "v" } }],
        contexts: [{ name: "b", context: { cluster: "other", user: "v" } }],
        "current-context": "b",
      }),
    );
    Deno.env.set("KUBECONFIG", `${d}/a.json:${d}/b.json`);
    for (const c of [Credentials.fromFiles([`${d}/a.json`, `${d}/b.json`]), loadKubeConfig(undefined)]) {
      assert.equal(c.currentContext, "ctx");
      assert.equal(c.getCurrentUser()?.token, "from-a");
      assert.deepEqual(c.clusters.map((x) => x.name), ["c", "other"]);
      assert.deepEqual(c.users.map((x) => x.name), ["u", "v"]);
    }
  } finally {
    if (saved === undefined) Deno.env.delete("KUBECONFIG");
    else Deno.env.set("KUBECONFIG", saved);
    await Deno.remove(d, { recursive: true });
  }
});

Deno.test("credentials: in-cluster reads the CA and re-reads the token file, like client-node", async () => {
  const d = await dir();
  const sa = `${d}/var/run/secrets/kubernetes.io/serviceaccount`;
  await Deno.mkdir(sa, { recursive: true });
  await Deno.writeTextFile(`${sa}/ca.crt`, CA);
  await Deno.writeTextFile(`${sa}/token`, "projected");
  const saved = [Deno.env.get("KUBERNETES_SERVICE_HOST"), Deno.env.get("KUBERNETES_SERVICE_PORT")];
  Deno.env.set("KUBERNETES_SERVICE_HOST", "fd00::1");
  Deno.env.set("KUBERNETES_SERVICE_PORT", "443");
  try {
    const ours = Credentials.inCluster(d);
    const theirs = new k8s.KubeConfig();
    theirs.loadFromCluster(d);
    assert.equal(ours.getCurrentCluster()?.server, "https://[fd00::1]:443");
    assert.equal(ours.getCurrentCluster()?.server, theirs.getCurrentCluster()?.server);
    assert.deepEqual(await applied(ours), await applied(theirs));
    assert.equal((await applied(ours)).authorization, "Bearer projected");
  } finally {
    for (
      const [k, v] of [["KUBERNETES_SERVICE_HOST", saved[0]], ["KUBERNETES_SERVICE_PORT", saved[1]]] as const
    ) {
      if (v === undefined) Deno.env.delete(k);
      else Deno.env.set(k, v);
    }
    await Deno.remove(d, { recursive: true });
  }
});

Deno.test("credentials: what kreboot refuses, in one line naming what to do", async () => {
  const d = await dir();
  try {
    await Deno.writeTextFile(
      `${d}/gcp.json`,
      config([{ name: "g", user: { "auth-provider": { name: "gcp" } } }]),
    );
    await assert.rejects(
      () => applied(Credentials.fromFile(`${d}/gcp.json`)),
      /auth-provider "gcp", which kreboot does not support: use an exec plugin/,
    );
    await Deno.writeTextFile(`${d}/bad.yaml`, "- just\n- a list\n");
    assert.throws(() => Credentials.fromFile(`${d}/bad.yaml`), /not a kubeconfig/);
    await Deno.writeTextFile(
      `${d}/noserver.json`,
      JSON.stringify({ clusters: [{ name: "c", cluster: {} }] }),
    );
    assert.throws(
      () => Credentials.fromFile(`${d}/noserver.json`),
      /clusters\[0\]\.cluster\.server is missing/,
    );
    await Deno.writeTextFile(`${d}/nocontext.json`, JSON.stringify({ clusters: [] }));
    assert.throws(() => loadKubeConfig(`${d}/nocontext.json`), /no Kubernetes cluster configured/);
  } finally {
    await Deno.remove(d, { recursive: true });
  }
});
