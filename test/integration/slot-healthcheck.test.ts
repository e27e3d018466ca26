/**
 * The slot container's own Docker healthcheck agrees with the health gate about status codes:
 * run for real with sh and curl against a server answering each code.
 */
import assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { healthcheckScript } from "../../components/AppSlot";
import { run } from "../support/process";

describe("the slot's Docker healthcheck", () => {
  let server: http.Server;
  let base: string;

  before(async () => {
    // `/<code>` answers with that status; a path with shell characters must reach the server intact.
    server = http.createServer((req, res) => {
      const code = Number(/^\/(\d{3})/.exec(req.url ?? "")?.[1] ?? 500);
      res.writeHead(code, { "content-type": "application/json" }).end("{}");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const healthy = async (path: string, allowDegraded: boolean) =>
    (await run("sh", ["-c", healthcheckScript(`${base}${path}`, allowDegraded)])).code === 0;

  it("passes 2xx, fails 206 unless degraded slots may take traffic, and fails everything else", async () => {
    for (const [code, strict, lenient] of [
      [200, true, true],
      [204, true, true],
      [206, false, true],
      [302, false, false],
      [404, false, false],
      [503, false, false],
    ] as const) {
      assert.equal(await healthy(`/${code}`, false), strict, `${code}, degraded not allowed`);
      assert.equal(await healthy(`/${code}`, true), lenient, `${code}, degraded allowed`);
    }
  });

  it("fails when nothing answers, and takes a path with shell characters as it is", async () => {
    assert.equal((await run("sh", ["-c", healthcheckScript("http://127.0.0.1:1/health", true)])).code, 1);
    assert.equal(await healthy("/200?x=$(false);y='1'", false), true);
  });
});
