import { startCluster } from "../tests/harness/mod.ts";
import { loadKubeConfig, makeKube } from "../lib/kube/mod.ts";
await using c = await startCluster();
const kube = makeKube(loadKubeConfig(c.cp.adminKubeconfig), false);
await c.createNode("n1");
const t0 = performance.now();
const ctl = await kube.watch.watch("/api/v1/nodes", { fieldSelector: "metadata.name=n1", allowWatchBookmarks: true },
  (type, obj) => console.log(Math.round(performance.now() - t0), "event", type, (obj as any)?.metadata?.name),
  (err) => console.log(Math.round(performance.now() - t0), "done", String(err)));
console.log(Math.round(performance.now() - t0), "opened");
await new Promise((r) => setTimeout(r, 1000));
console.log(Math.round(performance.now() - t0), "deleting");
await c.deleteNode("n1");
await new Promise((r) => setTimeout(r, 3000));
ctl.abort();
await new Promise((r) => setTimeout(r, 500));
