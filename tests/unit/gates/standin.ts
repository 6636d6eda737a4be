/** A stand-in HTTP API (Prometheus, Alertmanager) on loopback for the gate tests. */

export interface Seen {
  method: string;
  path: string;
  /** The form body of a POST, else the query string. */
  params: URLSearchParams;
}

/** Serves `handler` on 127.0.0.1:<free port> while `fn` runs; `seen` records each request. */
export async function withStandIn(
  handler: (req: Request, params: URLSearchParams) => Response | Promise<Response>,
  fn: (url: string, seen: Seen[]) => Promise<void>,
): Promise<void> {
  const seen: Seen[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const u = new URL(req.url);
    const params = req.method === "POST" ? new URLSearchParams(await req.text()) : u.searchParams;
    seen.push({ method: req.method, path: u.pathname, params });
    return await handler(req, params);
  });
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`, seen);
  } finally {
    await server.shutdown();
  }
}

export const json = (body: unknown, status = 200): Response =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

/** An answer that never comes, until the client gives up (the server then answers into the void). */
export function hang(req: Request): Promise<Response> {
  return new Promise<Response>((resolve) => {
    req.signal.addEventListener("abort", () => resolve(new Response("gone")));
  });
}

/** A port on loopback where nothing listens. */
export function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}
