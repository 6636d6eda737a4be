import { startCluster } from "../tests/harness/mod.ts";
for (const args of [["--etcd-compaction-interval=2s"], ["--etcd-compaction-interval=2s", "--watch-cache=false"]]) {
  await using c = await startCluster({ apiserverArgs: args });
  console.log(c.cp.version);
  await c.ensureNamespace("g");
  await new Promise((r) => setTimeout(r, 7000));
  const client = Deno.createHttpClient({ caCerts: [c.cp.caPem] });
  for (const rv of ["1", "2"]) {
    const res = await fetch(`${c.cp.url}/apis/coordination.k8s.io/v1/namespaces/g/leases?watch=true&resourceVersion=${rv}&allowWatchBookmarks=true&timeoutSeconds=2`, { client, headers: { Authorization: `Bearer ${c.cp.adminToken}`, "Accept-Encoding": "identity" } });
    console.log(args, rv, res.status, (await res.text()).slice(0, 400));
  }
  client.close();
}
