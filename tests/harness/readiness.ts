/** Waiting for a harness process to become ready, with its log in the error when it does not. */

/** Thrown by a probe when waiting longer is pointless (the process exited); ends `waitFor` at once. */
export class FatalProbeError extends Error {}

/**
 * Calls `probe` every 100 ms until it returns a value; errors count as "not yet" unless they are
 * `FatalProbeError`. Fails after `timeoutMs` with the last error and `diagnose()` (e.g. a log tail).
 */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  diagnose: () => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError = "";
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      if (e instanceof FatalProbeError) throw new Error(`${what}: ${e.message}\n${diagnose()}`);
      lastError = e instanceof Error ? e.message : String(e);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `${what}: not ready after ${timeoutMs} ms${
      lastError ? ` (last error: ${lastError})` : ""
    }\n${diagnose()}`,
  );
}

/**
 * Calls `check` every `everyMs` until it returns a value (errors count as "not yet"); fails after `timeoutMs`
 * naming `what` and the last error.
 */
export async function until<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`,
      );
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
