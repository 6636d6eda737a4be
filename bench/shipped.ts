/**
 * The daemon as it ships, for measurements: the image's binary is `deno compile --no-code-cache` of the
 * single-file bundle of main.ts (Containerfile). `deno compile` needs the denort download, which is not
 * reachable here, so benchmarks run the same bundle with the same runtime flags through `deno run`.
 *
 * Why `--no-code-cache`: a compiled binary writes a V8 code cache on its first start and reads it on later
 * ones. In a pod every start is a first start (fresh or read-only filesystem), and producing the cache keeps
 * ~35 MiB more resident for the life of the process (measured: 122 against 85 MiB idle).
 *
 * Why the bundle is run once before it is measured: the first `deno run` of a file parses it for Deno's
 * dependency analysis (cached in DENO_DIR afterwards), which leaves ~24 MiB more resident in that process
 * (measured: 96 against 72 MiB idle). A compiled binary does not analyse its embedded modules at start-up, so
 * a warmed `deno run` is the closer stand-in.
 */
import { REPO_ROOT } from "../tests/harness/mod.ts";

/** Runtime flags of the shipped binary (also in the Containerfile's `deno compile`). */
export const SHIPPED_FLAGS = ["-A", "--no-code-cache"] as const;

/** Bundles `entry` (a path under the repository) into `dir`, runs it once, and returns the bundle's path. */
export async function bundle(entry: string, dir: string): Promise<string> {
  const out = `${dir}/${entry.replaceAll("/", "_").replace(/\.ts$/, ".js")}`;
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--platform=deno", "-o", out, `${REPO_ROOT}/${entry}`],
    cwd: REPO_ROOT,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!r.success) throw new Error(`deno bundle ${entry} failed: ${new TextDecoder().decode(r.stderr)}`);
  // Warm Deno's dependency-analysis cache for this file (see above); the exit code does not matter.
  await new Deno.Command(Deno.execPath(), {
    args: ["run", ...SHIPPED_FLAGS, "--no-config", out, "--version"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output();
  return out;
}

/** The command that runs a bundle as the image runs its binary (no deno.json, no lock, no node_modules). */
export function shippedCommand(bundlePath: string, extraFlags: readonly string[] = []): string[] {
  return [Deno.execPath(), "run", ...SHIPPED_FLAGS, ...extraFlags, "--no-config", bundlePath];
}
