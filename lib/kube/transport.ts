/**
 * The one way kreboot talks to the apiserver: the platform's `fetch` with JSON in and out. Credentials are
 * applied on every request (`applyToHTTPSOptions` of ./credentials.ts, or of a client-node `KubeConfig`), so
 * tokens, token files that rotate (in-cluster), exec plugins, client certificates and the in-cluster CA keep
 * working. The TLS material goes into a `Deno.createHttpClient`, made again only when it changes.
 *
 * Only the types of client-node are imported: at run time this file needs nothing of its generated clients.
 */
import type { CredentialSource, HttpsOptions } from "./credentials.ts";
import { ApiError, TransportError } from "./errors.ts";

/** The patch content types the apiserver accepts (https://kubernetes.io/docs/reference/using-api/api-concepts/#patch-and-apply). */
export type PatchType =
  | "application/merge-patch+json"
  | "application/strategic-merge-patch+json"
  | "application/json-patch+json";

export type Query = Record<string, string | number | boolean | undefined>;

export interface Request {
  method: "GET" | "POST" | "PATCH" | "DELETE";
  /** Absolute API path, e.g. `/api/v1/nodes/n1`. */
  path: string;
  query?: Query;
  /** Sent as JSON. */
  body?: unknown;
  /** Content type of the body; `application/json` unless a patch type is given. */
  contentType?: string;
  signal?: AbortSignal;
}

/** Requests without an answer after this long fail (watches excepted): a hung connection must not hang the daemon. */
export const REQUEST_TIMEOUT_MS = 60_000;

export class Transport {
  readonly #kc: CredentialSource;
  readonly #timeoutMs: number;
  #client: { key: string; client: Deno.HttpClient | undefined } | undefined;

  constructor(kc: CredentialSource, o: { timeoutMs?: number } = {}) {
    this.#kc = kc;
    this.#timeoutMs = o.timeoutMs ?? REQUEST_TIMEOUT_MS;
  }

  /** The apiserver's URL as configured (for messages). */
  get server(): string {
    return this.#kc.getCurrentCluster()?.server ?? "(no cluster)";
  }

  /** One request; the decoded JSON answer, `ApiError` for a non-2xx answer, `TransportError` for none. */
  async json<T>(r: Request): Promise<T> {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const res = await this.#fetch(r, r.signal ? AbortSignal.any([r.signal, timeout]) : timeout, false);
    const text = await res.text().catch((e) => {
      throw new TransportError(describe(r), this.server, e);
    });
    return (text === "" ? undefined : JSON.parse(text)) as T;
  }

  /** A streaming request (a watch): the 2xx response with its body unread; errors as `json`. No timeout. */
  stream(r: Request): Promise<Response> {
    return this.#fetch(r, r.signal, true);
  }

  /** Closes the HTTP client (its idle connections). Open streams end. */
  close(): void {
    this.#client?.client?.close();
    this.#client = undefined;
  }

  async #fetch(r: Request, signal: AbortSignal | undefined, streaming: boolean): Promise<Response> {
    const what = describe(r);
    const { url, init } = await this.#prepare(r, streaming).catch((e) => {
      throw new TransportError(what, this.server, e);
    });
    let res: Response;
    try {
      res = await fetch(url, { ...init, ...(signal ? { signal } : {}) });
    } catch (e) {
      // The caller's own abort is not a transport failure: pass its reason on unchanged.
      if (r.signal?.aborted) throw r.signal.reason;
      throw new TransportError(what, this.server, e);
    }
    if (res.ok) return res;
    const body = await res.text().catch(() => "");
    const headers: Record<string, string> = {};
    res.headers.forEach((v, k) => headers[k] = v);
    throw new ApiError(res.status, body, headers, what);
  }

  async #prepare(
    r: Request,
    streaming: boolean,
  ): Promise<{ url: URL; init: RequestInit & { client?: Deno.HttpClient } }> {
    const cluster = this.#kc.getCurrentCluster();
    if (!cluster) throw new Error("no current cluster in the kubeconfig");
    const opts: HttpsOptions = {};
    await this.#kc.applyToHTTPSOptions(opts);

    const server = new URL(cluster.server);
    if (server.protocol === "http:" && !cluster.skipTLSVerify) {
      throw new Error(
        `plain HTTP to ${cluster.server} needs insecure-skip-tls-verify: true in the kubeconfig`,
      );
    }
    if (server.protocol === "https:" && opts.rejectUnauthorized === false) {
      throw new Error(
        `the kubeconfig's cluster ${cluster.name} sets insecure-skip-tls-verify, which kreboot does not support: ` +
          "give its certificate-authority(-data) instead",
      );
    }
    const tls = {
      ca: text(opts.ca),
      cert: text(opts.cert),
      key: text(opts.key),
      proxy: cluster.proxyUrl ?? "",
      servername: opts.servername ?? "",
    };
    const client = this.#httpClient(tls, server);

    // tls-server-name: connect to the configured address, but verify (and send SNI for) the given name.
    const url = new URL(joinPath(server.pathname, r.path), server);
    if (tls.servername) url.hostname = tls.servername;
    for (const [k, v] of Object.entries(r.query ?? {})) {
      if (v !== undefined) url.searchParams.set(k, String(v));
    }
    const headers = new Headers({ Accept: "application/json" });
    // The apiserver gzips a watch stream as it goes, and Deno's fetch ends such a body at the first flushed
    // block (Deno 2.9.6): a stream asks for no compression. Whole answers decode fine, and large lists gain.
    if (streaming) headers.set("Accept-Encoding", "identity");
    for (const [k, v] of Object.entries(opts.headers ?? {})) {
      if (Array.isArray(v)) v.forEach((x) => headers.append(k, x));
      else if (v !== undefined) headers.set(k, String(v));
    }
    if (opts.auth) headers.set("Authorization", `Basic ${btoa(opts.auth)}`);
    let body: string | undefined;
    if (r.body !== undefined) {
      body = JSON.stringify(r.body);
      headers.set("Content-Type", r.contentType ?? "application/json");
    }
    return { url, init: { method: r.method, headers, ...(body !== undefined ? { body } : {}), ...client } };
  }

  #httpClient(
    tls: { ca: string; cert: string; key: string; proxy: string; servername: string },
    server: URL,
  ): { client?: Deno.HttpClient } {
    const key = JSON.stringify(tls);
    if (this.#client?.key !== key) {
      // Credentials changed (a rotated client certificate): new connections from now on.
      this.#client?.client?.close();
      this.#client = { key, client: makeClient(tls, server) };
    }
    return this.#client.client ? { client: this.#client.client } : {};
  }
}

function makeClient(
  tls: { ca: string; cert: string; key: string; proxy: string; servername: string },
  server: URL,
): Deno.HttpClient | undefined {
  const o: Deno.CreateHttpClientOptions & Partial<Deno.TlsCertifiedKeyPem> = {};
  if (tls.ca) o.caCerts = [tls.ca];
  if (tls.cert || tls.key) {
    if (!tls.cert || !tls.key) {
      throw new Error("the kubeconfig user has a client certificate or key, not both");
    }
    o.cert = tls.cert;
    o.key = tls.key;
  }
  if (tls.servername) {
    if (tls.proxy) throw new Error("kreboot cannot combine tls-server-name with proxy-url");
    const port = Number(server.port || (server.protocol === "https:" ? 443 : 80));
    o.proxy = { transport: "tcp", hostname: server.hostname.replace(/^\[|\]$/g, ""), port };
  } else if (tls.proxy) {
    o.proxy = { url: tls.proxy };
  }
  return Object.keys(o).length ? Deno.createHttpClient(o as Deno.CreateHttpClientOptions) : undefined;
}

function text(v: string | Uint8Array | undefined): string {
  if (v === undefined) return "";
  return typeof v === "string" ? v : new TextDecoder().decode(v);
}

function joinPath(base: string, path: string): string {
  return base.replace(/\/+$/, "") + path;
}

function describe(r: Request): string {
  return `${r.method} ${r.path}`;
}
