/**
 * The daemon with a memory probe: runs main.ts unchanged (same arguments, same modules) and writes
 * `Deno.memoryUsage()` as one JSON line to stderr every 10 s, so the memory benchmark can tell the V8 heap from
 * external memory and the rest of the resident set. The probe's timer is unref'd: it never keeps the process up.
 */
const probe = () =>
  console.error(JSON.stringify({ memprobe: Deno.memoryUsage(), at: new Date().toISOString() }));
Deno.unrefTimer(setInterval(probe, 10_000));
await import("../main.ts");
