import assert from "node:assert/strict";
import { ConfigError } from "../../../lib/config/mod.ts";
import { findKubeConfig } from "../../../lib/kube/find_config.ts";

const IN_CLUSTER_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";

function find(flag: string | undefined, env: Record<string, string>, files: string[] = []) {
  return findKubeConfig(flag, { env: { get: (k) => env[k] }, exists: (p) => files.includes(p) });
}

const POD = { KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" };

Deno.test("kubeconfig: --kubeconfig, then in-cluster, then $KUBECONFIG, then ~/.kube/config", () => {
  const all = { ...POD, KUBECONFIG: "/k1:/k2", HOME: "/home/op" };
  const files = [IN_CLUSTER_TOKEN, "/home/op/.kube/config"];
  assert.deepEqual(find("/flag", all, files), { kind: "flag", path: "/flag" });
  assert.deepEqual(find(undefined, all, files), { kind: "in-cluster" });
  assert.deepEqual(find(undefined, all, ["/home/op/.kube/config"]), { kind: "default", path: "/k1:/k2" });
  assert.deepEqual(find(undefined, { HOME: "/home/op" }, files), {
    kind: "default",
    path: "/home/op/.kube/config",
  });
});

Deno.test("kubeconfig: nothing found is a ConfigError on --kubeconfig naming every source", () => {
  for (const [env, files] of [[{}, []], [{ HOME: "/empty" }, []]] as const) {
    assert.throws(() => find(undefined, env, [...files]), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.flag, "kubeconfig");
      for (
        const s of [
          "--kubeconfig",
          "$KUBECONFIG",
          "~/.kube/config",
          "KUBERNETES_SERVICE_HOST",
          IN_CLUSTER_TOKEN,
        ]
      ) {
        assert.ok(e.message.includes(s), `${s} in ${e.message}`);
      }
      assert.doesNotMatch(e.message, /incomplete/);
      return true;
    });
  }
});

Deno.test("kubeconfig: a half in-cluster environment says what is missing", () => {
  assert.throws(
    () => find(undefined, POD, []),
    /in-cluster config is incomplete: no ServiceAccount token at \/var\/run\/secrets/,
  );
  assert.throws(
    () => find(undefined, { KUBERNETES_SERVICE_HOST: "10.0.0.1" }, [IN_CLUSTER_TOKEN]),
    /incomplete: KUBERNETES_SERVICE_PORT is not set\)$/,
  );
});
