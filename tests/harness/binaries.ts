/**
 * Where the control-plane binaries are and which versions they are: the same rules as
 * tools/controlplane/build.sh, read from tools/controlplane/versions.env.
 */
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");
const VERSIONS_FILE = `${REPO_ROOT}/tools/controlplane/versions.env`;

export interface ControlPlaneVersions {
  k8s: string;
  etcd: string;
  kwok: string;
}

/** The versions build.sh builds, from tools/controlplane/versions.env. */
export function controlPlaneVersions(): ControlPlaneVersions {
  const env = Object.fromEntries(
    Deno.readTextFileSync(VERSIONS_FILE).split("\n")
      .map((l) => l.match(/^([A-Z0-9_]+)=(\S+)$/))
      .filter((m): m is RegExpMatchArray => m !== null)
      .map((m) => [m[1], m[2]]),
  );
  const k8s = env["K8S_VERSION"];
  const etcd = env["ETCD_VERSION"];
  const kwok = env["KWOK_VERSION"];
  if (!k8s || !etcd || !kwok) {
    throw new Error(`${VERSIONS_FILE} must define K8S_VERSION, ETCD_VERSION and KWOK_VERSION`);
  }
  return { k8s, etcd, kwok };
}

/** Where build.sh puts the binaries; the same rule as in build.sh. */
export function controlPlaneBinDir(): string {
  const override = Deno.env.get("KREBOOT_CONTROLPLANE_DIR");
  if (override) return override;
  const { k8s, etcd } = controlPlaneVersions();
  const cache = Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME") ?? "/root"}/.cache`;
  return `${cache}/kreboot/controlplane/${k8s}-etcd${etcd}`;
}

/** The binaries of the bare control plane, and those the cluster with controllers adds. */
export const CORE_BINARIES = ["etcd", "kube-apiserver", "kubectl"] as const;
export const CONTROLLER_BINARIES = ["kube-controller-manager", "kube-scheduler", "kwok"] as const;

/** Throws, saying how to build them, when any of `names` is missing in `dir`. */
export function requireBinaries(dir: string, names: readonly string[]): void {
  const missing = names.filter((b) => {
    try {
      return !Deno.statSync(`${dir}/${b}`).isFile;
    } catch {
      return true;
    }
  });
  if (missing.length > 0) {
    throw new Error(
      `control plane binaries missing in ${dir}: ${missing.join(", ")}. ` +
        "Build them with `deno task controlplane` (needs Go >= 1.26; about 20 min cold on 2 CPUs, " +
        "only the missing ones are built), or run only the unit tests with `deno task test:unit`.",
    );
  }
}
