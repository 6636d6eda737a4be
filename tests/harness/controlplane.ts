/**
 * A real control plane for e2e tests: etcd and kube-apiserver (built by tools/controlplane/build.sh) on free
 * loopback ports in a temp directory, with RBAC on, a static admin token, a service-account signing key and
 * optional audit logging; with `controllers: true` also kube-controller-manager, kube-scheduler and kwok
 * (tests/harness/controllers.ts). Start it with `await using cp = await startControlPlane()`; disposal stops
 * every process and removes the directory.
 */
import { loadTestKube, type TestKube as Kube } from "./full_kube.ts";
import {
  CONTROLLER_BINARIES,
  controlPlaneBinDir,
  controlPlaneVersions,
  CORE_BINARIES,
  requireBinaries,
} from "./binaries.ts";
import { componentTokenLines, componentTokens, Controllers } from "./controllers.ts";
import { writeKubeconfig } from "./kubeconfig.ts";
import { Proc, reapOrphans, tail } from "./proc.ts";
import { FatalProbeError, waitFor } from "./readiness.ts";

export {
  controlPlaneBinDir,
  type ControlPlaneVersions,
  controlPlaneVersions,
  REPO_ROOT,
} from "./binaries.ts";

const RUN_PREFIX = "kreboot-e2e-";

/** Every port `freePort` returned in this process. */
const handedOut = new Set<number>();

/**
 * A port that was free a moment ago, for a process to bind later. Drawn at random below the kernel's ephemeral
 * range (32768+ on Linux), not by binding port 0: the ephemeral range is where every outgoing connection of every
 * test on the machine takes its local port, so a port picked there was seen taken again before the daemon
 * could bind it ("--metrics-port N: address already in use").
 */
export function freePort(): number {
  for (let i = 0; i < 100; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    // Free now, but maybe already handed to a process that has not bound it yet: with the 40-odd daemons of a
    // benchmark, two draws of the same port are likely (found: "--metrics-port 30878: address already in use").
    if (handedOut.has(port)) continue;
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      handedOut.add(port);
      return port;
    } catch (e) {
      if (!(e instanceof Deno.errors.AddrInUse)) throw e;
    }
  }
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** A fresh ECDSA P-256 key pair as PEM: PKCS#8 private key (signing) and SPKI public key (verification). */
async function serviceAccountKeyPair(): Promise<{ privatePem: string; publicPem: string }> {
  const { privateKey, publicKey } = await crypto.subtle.generateKey(
    { name: "ECDSA", namedCurve: "P-256" },
    true,
    ["sign", "verify"],
  );
  const pem = (label: string, der: ArrayBuffer) => {
    const b64 = btoa(String.fromCharCode(...new Uint8Array(der))).replace(/(.{64})/g, "$1\n").trimEnd();
    return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
  };
  return {
    privatePem: pem("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", privateKey)),
    // The apiserver's public-key reader takes no PKCS#8 private keys, so the public half gets its own file.
    publicPem: pem("PUBLIC KEY", await crypto.subtle.exportKey("spki", publicKey)),
  };
}

/** The fields of an audit event (level Metadata) that RBAC-usage tests look at. */
export interface AuditEvent {
  verb: string;
  requestURI: string;
  user: { username: string; groups?: string[] };
  objectRef?: {
    resource?: string;
    subresource?: string;
    namespace?: string;
    name?: string;
    apiGroup?: string;
  };
  responseStatus?: { code?: number };
  stage: string;
  /** RFC 3339 with microseconds. */
  requestReceivedTimestamp?: string;
}

export interface ControlPlaneOptions {
  /** Write an audit log (policy: every request at level Metadata, JSON lines) to `auditLogPath`. */
  audit?: boolean;
  /** Time allowed for etcd and then the apiserver to become ready; default 60 s. */
  startTimeoutMs?: number;
  /** Extra kube-apiserver flags, appended last (later flags win). */
  apiserverArgs?: string[];
  /** Keep the temp directory after stop (also with KREBOOT_E2E_KEEP=1), for post-mortems. */
  keepDir?: boolean;
  /** Also run kube-controller-manager, kube-scheduler and kwok (see tests/harness/controllers.ts). */
  controllers?: boolean;
}

export class ControlPlane implements AsyncDisposable {
  /** The run directory; everything of this control plane lives below it. */
  readonly dir: string;
  readonly binDir: string;
  readonly version: string;
  readonly url: string;
  readonly port: number;
  readonly adminToken: string;
  /** PEM of the apiserver's self-signed serving certificate and its CA. */
  caPem = "";
  /** Kubeconfig with the admin token (group system:masters). */
  readonly adminKubeconfig: string;
  /** Admin client on `adminKubeconfig`. */
  kube!: Kube;
  readonly auditLogPath: string | undefined;
  /** Milliseconds from spawning kube-apiserver to /readyz = 200, for the last (re)start. */
  startupMs = 0;
  /** The controller-manager, scheduler and kwok, with `controllers: true`. */
  controllers: Controllers | undefined;
  #etcd: Proc | undefined;
  #apiserver: Proc | undefined;
  #apiserverArgs: string[] = [];
  #etcdPort: number;
  #opts: ControlPlaneOptions;
  #stopped = false;

  private constructor(dir: string, binDir: string, opts: ControlPlaneOptions) {
    this.dir = dir;
    this.binDir = binDir;
    this.version = controlPlaneVersions().k8s;
    this.port = freePort();
    this.#etcdPort = freePort();
    this.url = `https://127.0.0.1:${this.port}`;
    this.adminToken = crypto.randomUUID();
    this.adminKubeconfig = `${dir}/admin.kubeconfig`;
    this.auditLogPath = opts.audit ? `${dir}/audit.log` : undefined;
    this.#opts = opts;
  }

  static async start(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
    // Free ports are picked, then released before etcd and the apiserver bind them: on a busy machine another
    // process can take one in between. That is worth another try with new ports, nothing else is.
    for (let attempt = 1;; attempt++) {
      try {
        return await ControlPlane.#startOnce(opts);
      } catch (e) {
        if (attempt >= 3 || !/address already in use/.test(String(e instanceof Error ? e.message : e))) {
          throw e;
        }
      }
    }
  }

  static async #startOnce(opts: ControlPlaneOptions): Promise<ControlPlane> {
    const binDir = controlPlaneBinDir();
    requireBinaries(binDir, [...CORE_BINARIES, ...(opts.controllers ? CONTROLLER_BINARIES : [])]);
    const tmpRoot = Deno.env.get("TMPDIR") ?? "/tmp";
    reapOrphans(tmpRoot, RUN_PREFIX);
    const dir = await Deno.makeTempDir({ dir: tmpRoot, prefix: `${RUN_PREFIX}${Deno.pid}-` });
    const cp = new ControlPlane(dir, binDir, opts);
    try {
      await cp.#init();
      return cp;
    } catch (e) {
      await cp.stop({ keepDir: true });
      if (e instanceof Error) e.message += `\n(control plane files kept in ${dir})`;
      throw e;
    }
  }

  get pidDir(): string {
    return `${this.dir}/pids`;
  }

  /** The etcd and kube-apiserver processes (undefined while stopped). */
  get processes(): { etcd: Proc | undefined; apiserver: Proc | undefined } {
    return { etcd: this.#etcd, apiserver: this.#apiserver };
  }

  async #init(): Promise<void> {
    const d = this.dir;
    await Deno.mkdir(`${d}/pids`);
    await Deno.mkdir(`${d}/pki`, { mode: 0o700 });
    await Deno.mkdir(`${d}/logs`);
    const sa = await serviceAccountKeyPair();
    await Deno.writeTextFile(`${d}/pki/sa.key`, sa.privatePem, { mode: 0o600 });
    await Deno.writeTextFile(`${d}/pki/sa.pub`, sa.publicPem);
    const tokens = this.#opts.controllers ? componentTokens() : undefined;
    await Deno.writeTextFile(
      `${d}/tokens.csv`,
      `${this.adminToken},admin,admin,"system:masters"\n${tokens ? componentTokenLines(tokens) : ""}`,
      { mode: 0o600 },
    );
    if (this.auditLogPath) {
      const policy = {
        apiVersion: "audit.k8s.io/v1",
        kind: "Policy",
        omitStages: ["RequestReceived"],
        rules: [{ level: "Metadata" }],
      };
      await Deno.writeTextFile(`${d}/audit-policy.json`, JSON.stringify(policy));
    }
    await this.#startEtcd();
    this.#apiserverArgs = [
      `--etcd-servers=http://127.0.0.1:${this.#etcdPort}`,
      "--bind-address=127.0.0.1",
      // Without it the apiserver looks for a default route to pick an address, which fails offline.
      "--advertise-address=127.0.0.1",
      `--secure-port=${this.port}`,
      `--cert-dir=${d}/pki`,
      "--authorization-mode=Node,RBAC",
      `--token-auth-file=${d}/tokens.csv`,
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${d}/pki/sa.pub`,
      `--service-account-signing-key-file=${d}/pki/sa.key`,
      "--service-cluster-ip-range=10.0.0.0/24",
      "--allow-privileged=true",
      // The lease reconciler would keep failing to write loopback addresses into the kubernetes Endpoints.
      "--endpoint-reconciler-type=none",
      "--profiling=false",
      ...(this.auditLogPath
        ? [
          `--audit-policy-file=${d}/audit-policy.json`,
          `--audit-log-path=${this.auditLogPath}`,
          "--audit-log-format=json",
          // Each event is written before the response goes out, so a test can read it right after a call.
          "--audit-log-mode=blocking",
        ]
        : []),
      ...(this.#opts.apiserverArgs ?? []),
    ];
    await this.#startApiserver();
    await writeKubeconfig(this.adminKubeconfig, {
      server: this.url,
      caPem: this.caPem,
      token: this.adminToken,
      name: "admin",
    });
    this.kube = loadTestKube(this.adminKubeconfig);
    if (tokens) {
      this.controllers = await Controllers.start({
        dir: d,
        binDir: this.binDir,
        pidDir: this.pidDir,
        url: this.url,
        caPem: this.caPem,
        serviceAccountKeyFile: `${d}/pki/sa.key`,
        tokens,
        kube: this.kube,
        startTimeoutMs: this.#opts.startTimeoutMs ?? 60_000,
      });
    }
  }

  async #startEtcd(): Promise<void> {
    const d = this.dir;
    const peer = freePort();
    const client = `http://127.0.0.1:${this.#etcdPort}`;
    const proc = Proc.spawn({
      argv: [
        `${this.binDir}/etcd`,
        "--name=e0",
        `--data-dir=${d}/etcd`,
        `--listen-client-urls=${client}`,
        `--advertise-client-urls=${client}`,
        `--listen-peer-urls=http://127.0.0.1:${peer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
        `--initial-cluster=e0=http://127.0.0.1:${peer}`,
        "--initial-cluster-state=new",
        "--unsafe-no-fsync=true",
        "--auto-compaction-retention=1",
        "--quota-backend-bytes=2147483648",
        "--log-level=warn",
      ],
      logFile: `${d}/logs/etcd.log`,
      pidDir: this.pidDir,
    });
    this.#etcd = proc;
    await waitFor("etcd", this.#opts.startTimeoutMs ?? 60_000, async () => {
      if (proc.exited) throw new FatalProbeError(`exited with code ${proc.exited.code}`);
      const res = await fetch(`${client}/health`);
      const body = await res.text();
      return res.ok && body.includes('"health":"true"') ? true : undefined;
    }, () => `--- tail of ${proc.logFile} ---\n${tail(proc.logFile)}`);
  }

  async #startApiserver(): Promise<void> {
    const t0 = performance.now();
    const proc = Proc.spawn({
      argv: [`${this.binDir}/kube-apiserver`, ...this.#apiserverArgs],
      logFile: `${this.dir}/logs/kube-apiserver.log`,
      pidDir: this.pidDir,
    });
    this.#apiserver = proc;
    let lastReadyz = "";
    await waitFor("kube-apiserver", this.#opts.startTimeoutMs ?? 60_000, async () => {
      if (proc.exited) throw new FatalProbeError(`exited with code ${proc.exited.code}`);
      if (!this.caPem) {
        // The apiserver writes its self-signed certificate (leaf + CA) into --cert-dir while starting; it is
        // reused on restart, so the CA in every kubeconfig stays valid.
        const pem = await Deno.readTextFile(`${this.dir}/pki/apiserver.crt`);
        if (!pem.trimEnd().endsWith("-----END CERTIFICATE-----")) return undefined;
        this.caPem = pem;
      }
      using client = Deno.createHttpClient({ caCerts: [this.caPem] });
      const res = await fetch(`${this.url}/readyz?verbose`, {
        client,
        headers: { authorization: `Bearer ${this.adminToken}` },
      });
      lastReadyz = await res.text();
      return res.ok ? true : undefined;
    }, () =>
      `${lastReadyz ? `--- last /readyz?verbose ---\n${lastReadyz.trim()}\n` : ""}` +
      `--- tail of ${proc.logFile} ---\n${tail(proc.logFile)}`);
    this.startupMs = Math.round(performance.now() - t0);
  }

  /**
   * Stops kube-apiserver and starts it again on the same port with the same etcd, certificate and tokens
   * (for chaos tests: clients see connection errors, then the same cluster state).
   */
  async restartApiserver(opts: { downMs?: number; addArgs?: string[] } = {}): Promise<void> {
    if (this.#stopped) throw new Error("restartApiserver: the control plane was stopped");
    await this.#apiserver?.stop();
    this.#apiserver = undefined;
    if (opts.downMs) await new Promise((r) => setTimeout(r, opts.downMs));
    // `addArgs`: it comes back configured differently, e.g. with a feature gate off.
    if (opts.addArgs) this.#apiserverArgs = [...this.#apiserverArgs, ...opts.addArgs];
    await this.#startApiserver();
  }

  /**
   * The audit events written so far (needs `audit: true`), optionally only those of one user, e.g.
   * `system:serviceaccount:kube-system:kreboot`. The log is written in blocking mode, so a call's event is
   * there once the call returned.
   */
  async auditEvents(username?: string): Promise<AuditEvent[]> {
    if (!this.auditLogPath) throw new Error("auditEvents: start the control plane with { audit: true }");
    const text = await Deno.readTextFile(this.auditLogPath).catch((e) => {
      if (e instanceof Deno.errors.NotFound) return "";
      throw e;
    });
    const events = text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as AuditEvent);
    return username === undefined ? events : events.filter((e) => e.user.username === username);
  }

  /**
   * Throws with the log tail when the controller-manager, the scheduler or kwok keeps exiting (each is started
   * again after an exit, as a kubelet would; a test on this cluster is meaningless without them); `stop()`
   * checks it too.
   */
  assertControllersRunning(): void {
    const failure = this.controllers?.failure();
    if (failure) throw new Error(`a cluster component kept failing during the test:\n${failure}`);
  }

  /** Resident memory of etcd and kube-apiserver now and at their peak (bytes). */
  memory(): { etcd: { rss: number; peak: number }; apiserver: { rss: number; peak: number } } {
    const zero = { rss: 0, peak: 0 };
    return {
      etcd: this.#etcd?.memory() ?? zero,
      apiserver: this.#apiserver?.memory() ?? zero,
    };
  }

  /** Runs the built kubectl with the admin kubeconfig. */
  async kubectl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const out = await new Deno.Command(`${this.binDir}/kubectl`, {
      args: [`--kubeconfig=${this.adminKubeconfig}`, ...args],
      stdin: "null",
      signal: AbortSignal.timeout(60_000),
    }).output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  }

  /**
   * Stops the controllers, kube-apiserver, then etcd, and removes the run directory (unless kept). Idempotent.
   * Throws afterwards when a controller kept exiting during the run (the directory is then kept).
   */
  async stop(opts: { keepDir?: boolean } = {}): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const died = this.controllers?.failure();
    await this.controllers?.stop();
    await this.#apiserver?.stop();
    await this.#etcd?.stop();
    const keep = opts.keepDir || this.#opts.keepDir || Deno.env.get("KREBOOT_E2E_KEEP") === "1" ||
      died !== undefined;
    if (keep) {
      console.error(`control plane files kept in ${this.dir}`);
    } else {
      await Deno.remove(this.dir, { recursive: true }).catch(() => {});
    }
    if (died) throw new Error(`a cluster component kept failing during the test:\n${died}`);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** Starts etcd and kube-apiserver and returns once /readyz is OK; see `ControlPlane`. */
export function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  return ControlPlane.start(opts);
}
