/**
 * Notices the sentinel file appear or vanish as it happens (inotify through Deno.watchFs on its directory),
 * so an idle node that needs a reboot does not sit out the rest of a long `--period`. It sends no API
 * request; the period check stays as the fallback (and is all there is for a sentinel command).
 */
import { basename, dirname } from "node:path";

/**
 * Resolves at the first change of `path` (or when the directory cannot be watched: then never, until abort).
 * `seen`: whether the file existed at the caller's last check. A file that appeared or vanished between that
 * check and the start of the watch is no event to the watch: it resolves at once instead (found by the
 * makespan benchmark, where such a node sat out a whole `--period` in idle).
 */
export async function sentinelChanged(path: string, signal: AbortSignal, seen?: boolean): Promise<void> {
  if (signal.aborted) return;
  let watcher: Deno.FsWatcher;
  try {
    watcher = Deno.watchFs(dirname(path), { recursive: false });
  } catch {
    return await new Promise<void>((resolve) =>
      signal.addEventListener("abort", () => resolve(), { once: true })
    );
  }
  if (seen !== undefined && (await exists(path)) !== seen) {
    watcher.close();
    return;
  }
  const close = () => {
    try {
      watcher.close();
    } catch {
      // already closed
    }
  };
  signal.addEventListener("abort", close, { once: true });
  const name = basename(path);
  try {
    for await (const event of watcher) {
      if (event.paths.some((p) => basename(p) === name)) return;
    }
  } catch {
    // the watch ended (directory gone): fall back to the period
  } finally {
    signal.removeEventListener("abort", close);
    close();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
