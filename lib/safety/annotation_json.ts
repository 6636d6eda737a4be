/**
 * The shared first step of the safety records' codecs (evicted pods, failed reboots, reboot loops): each is a
 * small versioned JSON object in an annotation that kreboot writes but anyone with write access can edit, so
 * decoding bounds the size before parsing and checks the shape and version before any field is read.
 */

export type ParsedAnnotation = { ok: true; fields: Record<string, unknown> } | { ok: false; why: string };

/** Parses `raw` as `{"v": version, …}` of at most `maxChars` characters; never throws. */
export function parseAnnotationJson(raw: string, version: number, maxChars: number): ParsedAnnotation {
  if (raw.length > maxChars) return { ok: false, why: `${raw.length} characters, more than ${maxChars}` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return { ok: false, why: "not JSON" };
  }
  if (!isRecord(parsed)) return { ok: false, why: "not an object" };
  if (parsed.v !== version) {
    return { ok: false, why: `version ${JSON.stringify(parsed.v)}, expected ${version}` };
  }
  return { ok: true, fields: parsed };
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** An RFC 3339 time as written by `Date.toISOString`, in milliseconds; anything else is undefined. */
export function timeOf(v: unknown): number | undefined {
  const t = typeof v === "string" && v.length <= 40 ? Date.parse(v) : NaN;
  return Number.isFinite(t) ? t : undefined;
}

/** One line of at most `max` characters. */
export function oneLine(s: string, max: number): string {
  const t = s.replace(/\s+/g, " ").trim();
  return t.length > max ? `${t.slice(0, max - 3)}...` : t;
}
