/** Kubeconfig files for the harness apiserver: one token, one CA, one context. */

export interface KubeconfigSpec {
  server: string;
  /** PEM bundle the client trusts for the apiserver's serving certificate. */
  caPem: string;
  token: string;
  /** Names the cluster/user/context entries; shows up in client errors. */
  name: string;
}

/** Writes a kubeconfig (JSON, which is valid YAML for client-node and kubectl) with mode 0600. */
export async function writeKubeconfig(path: string, spec: KubeconfigSpec): Promise<string> {
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{
      name: "kreboot-e2e",
      cluster: { server: spec.server, "certificate-authority-data": btoa(spec.caPem) },
    }],
    users: [{ name: spec.name, user: { token: spec.token } }],
    contexts: [{ name: spec.name, context: { cluster: "kreboot-e2e", user: spec.name } }],
    "current-context": spec.name,
  };
  await Deno.writeTextFile(path, JSON.stringify(config, null, 2) + "\n", { mode: 0o600 });
  return path;
}
