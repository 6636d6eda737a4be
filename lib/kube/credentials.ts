/**
 * Where kreboot's credentials come from: a kubeconfig (`--kubeconfig`, `$KUBECONFIG`, `~/.kube/config`) or the
 * pod's ServiceAccount (in-cluster); which one, lib/kube/find_config.ts decides. The entries are parsed and checked by `@kubernetes/client-node`'s own
 * parsers (dist/config_types.js), and every request is authenticated by its own authenticators: exec plugins
 * (client.authentication.k8s.io ExecCredential), token files re-read each minute (in-cluster, projected
 * tokens rotate), OIDC. What is not taken from it is the `KubeConfig` class: its module imports client-node's
 * generated API package, whose 718 model classes stay resident in every daemon (~20 MiB per node, issue 17).
 *
 * `Credentials` has the part of `KubeConfig`'s shape the transport uses (`getCurrentCluster`,
 * `applyToHTTPSOptions`), so a client-node `KubeConfig` works in its place (tests do that).
 */
import type { Cluster, Context, User } from "@kubernetes/client-node";
import { newClusters, newContexts, newUsers } from "@kubernetes/client-node/dist/config_types.js";
import { ExecAuth } from "@kubernetes/client-node/dist/exec_auth.js";
import { FileAuth } from "@kubernetes/client-node/dist/file_auth.js";
import { OpenIDConnectAuth } from "@kubernetes/client-node/dist/oidc_auth.js";
import yaml from "js-yaml";
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";

/** What the transport needs from a credential source; client-node's `KubeConfig` has it too. */
export interface CredentialSource {
  getCurrentCluster(): Cluster | null;
  /** Fills in TLS material, headers and basic auth for one request. */
  applyToHTTPSOptions(opts: HttpsOptions): Promise<void>;
}

/** The fields of node's `https.RequestOptions` that credentials fill in. */
export interface HttpsOptions {
  headers?: Record<string, string | string[] | number | undefined>;
  auth?: string;
  ca?: string | Uint8Array;
  cert?: string | Uint8Array;
  key?: string | Uint8Array;
  rejectUnauthorized?: boolean;
  servername?: string;
}

const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

interface Authenticator {
  isAuthProvider(user: User): boolean;
  applyAuthentication(user: User, opts: HttpsOptions): Promise<void>;
}

export class Credentials implements CredentialSource {
  clusters: Cluster[] = [];
  users: User[] = [];
  contexts: Context[] = [];
  currentContext = "";
  // client-node's, in its order; the gcp and azure auth-providers are left out (kubectl removed them in 1.26
  // in favour of exec plugins, which work here).
  readonly #authenticators: Authenticator[] = [
    new ExecAuth() as Authenticator,
    new FileAuth() as Authenticator,
    new OpenIDConnectAuth() as Authenticator,
  ];

  /** One kubeconfig file; relative certificate and key paths are relative to its directory. */
  static fromFile(path: string): Credentials {
    const c = new Credentials();
    c.#add(path);
    return c;
  }

  /**
   * The pod's ServiceAccount: the apiserver from KUBERNETES_SERVICE_HOST/PORT, its CA and a token file that is
   * re-read (`root` prefixes the ServiceAccount directory; tests use it).
   */
  static inCluster(root = ""): Credentials {
    const host = Deno.env.get("KUBERNETES_SERVICE_HOST") ?? "";
    const port = Deno.env.get("KUBERNETES_SERVICE_PORT") ?? "443";
    const dir = `${root}${SERVICE_ACCOUNT_DIR}`;
    const c = new Credentials();
    c.clusters = [{
      name: "in-cluster",
      server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
      caFile: `${dir}/ca.crt`,
      skipTLSVerify: false,
    }];
    c.users = [{
      name: "in-cluster",
      authProvider: { name: "tokenFile", config: { tokenFile: `${dir}/token` } },
    }];
    c.contexts = [{ name: "in-cluster", cluster: "in-cluster", user: "in-cluster" }];
    c.currentContext = "in-cluster";
    return c;
  }

  /** Several kubeconfig files merged, as `$KUBECONFIG` lists them: the first to name an entry or the context wins. */
  static fromFiles(paths: readonly string[]): Credentials {
    const c = new Credentials();
    for (const p of paths) c.#add(p);
    return c;
  }

  /** Adds a kubeconfig file's entries; earlier entries with the same name win, as in kubectl. */
  #add(path: string): void {
    const raw = yaml.load(readFileSync(path, "utf-8")) as Record<string, unknown> | null | undefined;
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      throw new Error(`${path} is not a kubeconfig (not a YAML map)`);
    }
    const root = dirname(path);
    const abs = (f: string) => isAbsolute(f) ? f : join(root, f);
    const clusters = newClusters(raw.clusters);
    for (const c of clusters) if (c.caFile) c.caFile = abs(c.caFile);
    const users = newUsers(raw.users);
    for (const u of users) {
      if (u.certFile) u.certFile = abs(u.certFile);
      if (u.keyFile) u.keyFile = abs(u.keyFile);
    }
    const merge = <T extends { name: string }>(have: T[], more: T[]) => [
      ...have,
      ...more.filter((m) => !have.some((h) => h.name === m.name)),
    ];
    this.clusters = merge(this.clusters, clusters);
    this.users = merge(this.users, users);
    this.contexts = merge(this.contexts, newContexts(raw.contexts));
    const current = raw["current-context"];
    if (!this.currentContext && typeof current === "string") this.currentContext = current;
  }

  getCurrentContext(): Context | null {
    return this.contexts.find((c) => c.name === this.currentContext) ?? null;
  }
  getCurrentCluster(): Cluster | null {
    const ctx = this.getCurrentContext();
    return ctx ? this.clusters.find((c) => c.name === ctx.cluster) ?? null : null;
  }
  getCurrentUser(): User | null {
    const ctx = this.getCurrentContext();
    return ctx ? this.users.find((u) => u.name === ctx.user) ?? null : null;
  }

  async applyToHTTPSOptions(opts: HttpsOptions): Promise<void> {
    const cluster = this.getCurrentCluster();
    const user = this.getCurrentUser();
    if (cluster?.skipTLSVerify) opts.rejectUnauthorized = false;
    if (cluster?.tlsServerName) opts.servername = cluster.tlsServerName;
    const ca = fileOrData(cluster?.caFile, cluster?.caData);
    if (ca) opts.ca = ca;
    if (!user) return;
    const cert = fileOrData(user.certFile, user.certData);
    if (cert) opts.cert = cert;
    const key = fileOrData(user.keyFile, user.keyData);
    if (key) opts.key = key;
    opts.headers ??= {};
    if (user.impersonateUser) opts.headers["Impersonate-User"] = user.impersonateUser;
    if (user.authProvider && !this.#authenticators.some((a) => a.isAuthProvider(user))) {
      throw new Error(
        `the kubeconfig user ${user.name} uses auth-provider ${
          JSON.stringify(user.authProvider.name)
        }, which kreboot does not support: use an exec plugin (client.authentication.k8s.io) instead`,
      );
    }
    await this.#authenticators.find((a) => a.isAuthProvider(user))?.applyAuthentication(user, opts);
    if (user.token) opts.headers.Authorization = `Bearer ${user.token}`;
    if (user.username) opts.auth = `${user.username}:${user.password ?? ""}`;
  }
}

/** A file's bytes (read on every request, so rotated files are picked up) or base64 data. */
function fileOrData(file: string | undefined, data: string | undefined): Uint8Array | undefined {
  if (file) return readFileSync(file);
  if (data) return Uint8Array.from(atob(data), (ch) => ch.charCodeAt(0));
  return undefined;
}
