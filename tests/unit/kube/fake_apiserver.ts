/**
 * A scripted loopback HTTP server for the transport's unit tests: every request is recorded, and `answer`
 * decides the response (JSON, a status, or a watch stream written chunk by chunk). Credentials point at it
 * over plain HTTP (allowed with insecure-skip-tls-verify, as in client-node).
 */
import { Credentials } from "../../../lib/kube/credentials.ts";

export interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Headers;
  body: string;
}

export type Answer = (req: Seen, n: number) => Response | Promise<Response>;

export class FakeApiserver implements AsyncDisposable {
  readonly seen: Seen[] = [];
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #dir: string;
  readonly kubeconfig: string;

  private constructor(answer: Answer, dir: string) {
    this.#dir = dir;
    this.#server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (r) => {
      const url = new URL(r.url);
      const seen = {
        method: r.method,
        path: url.pathname,
        query: url.searchParams,
        headers: r.headers,
        body: await r.text(),
      };
      this.seen.push(seen);
      return await answer(seen, this.seen.length);
    });
    this.kubeconfig = `${dir}/kubeconfig.json`;
    Deno.writeTextFileSync(
      this.kubeconfig,
      JSON.stringify({
        clusters: [{ name: "fake", cluster: { server: this.url, "insecure-skip-tls-verify": true } }],
        users: [{ name: "fake", user: { token: "fake-token" } }],
        contexts: [{ name: "fake", context: { cluster: "fake", user: "fake" } }],
        "current-context": "fake",
      }),
    );
  }

  static async start(answer: Answer): Promise<FakeApiserver> {
    return new FakeApiserver(answer, await Deno.makeTempDir({ prefix: "kreboot-fake-apiserver-" }));
  }

  get url(): string {
    return `http://127.0.0.1:${this.#server.addr.port}`;
  }

  credentials(): Credentials {
    return Credentials.fromFile(this.kubeconfig);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#server.shutdown();
    await Deno.remove(this.#dir, { recursive: true });
  }
}

/** A watch response whose lines are written in the given chunks (split anywhere), then the stream ends. */
export function watchStream(chunks: string[], delayMs = 5): Response {
  const enc = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    async start(c) {
      for (const chunk of chunks) {
        c.enqueue(enc.encode(chunk));
        await new Promise((r) => setTimeout(r, delayMs));
      }
      c.close();
    },
  });
  return new Response(body, { headers: { "content-type": "application/json" } });
}

/** A watch that stays open, silent, until the client goes. */
export function openStream(): Response {
  return new Response(new ReadableStream<Uint8Array>({ start() {} }), {
    headers: { "content-type": "application/json" },
  });
}

export function event(type: string, name: string, rv: string): string {
  return JSON.stringify({ type, object: { kind: "Lease", metadata: { name, resourceVersion: rv } } }) + "\n";
}

export function status(code: number, reason: string, message: string, headers: Record<string, string> = {}) {
  return Response.json({ kind: "Status", apiVersion: "v1", status: "Failure", reason, message, code }, {
    status: code,
    headers,
  });
}
