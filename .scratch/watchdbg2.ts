import { startCluster } from "../tests/harness/mod.ts";
await using c = await startCluster();
await c.createNode("n1");
for (const http2 of [true, false]) {
  const client = Deno.createHttpClient({ caCerts: [c.cp.caPem], http2 });
  const t0 = performance.now();
  const res = await fetch(`${c.cp.url}/api/v1/nodes?fieldSelector=metadata.name%3Dn1&watch=true&allowWatchBookmarks=true`, { client, headers: { Authorization: `Bearer ${c.cp.adminToken}`, "Accept-Encoding": Deno.env.get("AE") ?? "gzip" } });
  console.log("http2", http2, res.status, [...res.headers]);
  const reader = res.body!.getReader();
  const stop = setTimeout(() => reader.cancel(), 3000);
  for (;;) { const { done, value } = await reader.read(); console.log(Math.round(performance.now() - t0), done, value?.length); if (done) break; }
  clearTimeout(stop);
  client.close();
}
