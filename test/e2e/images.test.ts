/**
 * The images `npm run engine` builds from Debian packages stand in for the official ones, so they
 * must speak the same interfaces the program relies on: PostgreSQL's POSTGRES_* variables, data
 * on a volume and trust on the local socket; Redis with a config file and a password; nginx
 * running the router's main configuration unchanged; the demo app on Node 20 as a non-root user.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Client } from "pg";
import {
  containerMainConfig,
  containerNginxMain,
  renderNginxMain,
  renderRouterSite,
} from "../../components/providers/nginxConfig";
import { generationDirToken, routerLayout } from "../../components/providers/routerState";
import { delay, run, runChecked, waitForHttp } from "../support/process";
import { imageSpecs } from "../../engine/images";
import { pinnedImage, testPrefix } from "./support/engine";

const prefix = testPrefix("images");
const created: string[] = [];

async function docker(...args: string[]): Promise<string> {
  return (await runChecked("docker", args, { timeoutMs: 120_000 })).stdout.trim();
}

async function startContainer(name: string, args: string[]): Promise<string> {
  const full = `${prefix}-${name}`;
  created.push(full);
  await docker("run", "--detach", "--name", full, ...args);
  return full;
}

async function containerIp(container: string): Promise<string> {
  return docker("inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", container);
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} not ready after ${timeoutMs} ms`);
    await delay(250);
  }
}

async function postgresReady(container: string, user: string, db: string): Promise<void> {
  await until(`${container} pg_isready`, async () => {
    const result = await run("docker", ["exec", container, "pg_isready", "-U", user, "-d", db]);
    return result.code === 0 ? true : undefined;
  });
}

/** The container's processes as the host sees them: uid and command line. */
async function processesOf(container: string): Promise<{ uid: string; args: string }[]> {
  const lines = (await docker("top", "--", container, "-o", "pid,uid,args")).split("\n").slice(1);
  return lines.map((line) => {
    const [, uid, ...args] = line.trim().split(/\s+/);
    return { uid, args: args.join(" ") };
  });
}

async function uidOf(container: string, user: string): Promise<string> {
  return docker("exec", container, "id", "-u", user);
}

describe("the images built from Debian packages speak the official images' interfaces", function () {
  this.timeout(300_000);

  after(async () => {
    for (const container of created) await run("docker", ["rm", "--force", "--volumes", container]);
    await run("docker", ["volume", "rm", "--force", `${prefix}-pgdata`]);
    await run("docker", ["network", "rm", `${prefix}-net`]);
  });

  it("postgres: creates the user and database from POSTGRES_*, asks a password over TCP, trusts the local socket", async () => {
    const password = `pw-${prefix}`;
    const env = ["-e", `POSTGRES_PASSWORD=${password}`, "-e", "POSTGRES_USER=shop", "-e", "POSTGRES_DB=shop"];
    const volume = ["--volume", `${prefix}-pgdata:/var/lib/postgresql/data`];
    const first = await startContainer("pg1", [...env, ...volume, pinnedImage("postgres")]);
    await postgresReady(first, "shop", "shop");

    const host = await containerIp(first);
    const right = new Client({ host, user: "shop", password, database: "shop" });
    await right.connect();
    await right.query("create table items (id int); insert into items values (1), (2), (3)");
    await right.end();
    const wrong = new Client({ host, user: "shop", password: "not-it", database: "shop" });
    await assert.rejects(wrong.connect(), /password authentication failed for user "shop"/);

    // What the snapshot provider runs: pg_dump inside the container, no password.
    const dump = await runChecked("docker", ["exec", first, "pg_dump", "-U", "shop", "-Fc", "shop"], {
      timeoutMs: 60_000,
    });
    assert.ok(dump.stdout.startsWith("PGDMP"), "pg_dump -Fc did not produce a custom-format dump");
    const processes = await processesOf(first);
    assert.deepEqual([...new Set(processes.map((process) => process.uid))], [await uidOf(first, "postgres")]);
    assert.ok(
      !processes.some((process) => process.args.includes(password)),
      "the password is in a process's arguments",
    );

    // A replaced container on the same volume keeps the data and does not initialise again.
    await docker("rm", "--force", first);
    const second = await startContainer("pg2", [...env, ...volume, pinnedImage("postgres")]);
    await postgresReady(second, "shop", "shop");
    const count = await docker(
      "exec",
      second,
      "psql",
      "-U",
      "shop",
      "-d",
      "shop",
      "-tAc",
      "select count(*) from items",
    );
    assert.equal(count, "3");
    assert.doesNotMatch(await docker("logs", second), /initialised/);
  });

  it("redis: takes its password from a config file at /usr/local/etc/redis and runs as redis", async () => {
    const password = `pw-${prefix}`;
    const name = `${prefix}-redis`;
    created.push(name);
    await docker(
      "create",
      "--name",
      name,
      "-e",
      `REDISCLI_AUTH=${password}`,
      pinnedImage("redis"),
      "redis-server",
      "/usr/local/etc/redis/redis.conf",
    );
    // The way the Docker provider uploads a file: into the created container, before it starts.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
    fs.writeFileSync(path.join(dir, "redis.conf"), `requirepass ${password}\nappendonly no\nsave ""\n`, {
      mode: 0o644,
    });
    await docker("cp", path.join(dir, "redis.conf"), `${name}:/usr/local/etc/redis/redis.conf`);
    fs.rmSync(dir, { recursive: true });
    await docker("start", name);
    await until("redis ping", async () =>
      (await docker("exec", name, "redis-cli", "ping")) === "PONG" ? true : undefined,
    );
    const refused = await run("docker", ["exec", "-e", "REDISCLI_AUTH=", name, "redis-cli", "ping"]);
    assert.match(refused.output, /NOAUTH/);
    assert.deepEqual(
      (await processesOf(name)).map((process) => process.uid),
      [await uidOf(name, "redis")],
    );
  });

  it("nginx: runs the router's main configuration unchanged, workers as the nginx user", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
    const stateDir = containerNginxMain.stateDir;
    const current = routerLayout(stateDir).current;
    const site = renderRouterSite({
      upstreams: { blue: "127.0.0.1:3001", green: "127.0.0.1:3002" },
      serverName: "localhost",
      listen: { address: "0.0.0.0", http: 80, https: 443, check: 8081 },
      tls: false,
      retryAfterSeconds: 30,
      stateDir,
    }).replaceAll(generationDirToken, current);
    fs.writeFileSync(path.join(dir, "nginx.conf"), renderNginxMain(containerNginxMain));
    fs.mkdirSync(path.join(dir, "site"));
    fs.writeFileSync(path.join(dir, "site", "site.conf"), site);
    const name = await startContainer("nginx", [
      "--publish",
      "127.0.0.1::80",
      "--volume",
      `${path.join(dir, "nginx.conf")}:${containerMainConfig}:ro`,
      "--volume",
      `${path.join(dir, "site")}:${current}:ro`,
      pinnedImage("nginx"),
    ]);
    const test = await runChecked("docker", ["exec", name, "nginx", "-t"]);
    assert.match(test.output, /test is successful/);
    const port = (await docker("port", name, "80/tcp")).split(":").pop();
    // No traffic pointer yet: the router refuses rather than guesses a slot.
    const answer = await waitForHttp(`http://127.0.0.1:${port}/`, (res) => res.status === 503, 30_000);
    assert.equal(answer.headers["x-content-type-options"], "nosniff");
    const workers = (await processesOf(name)).filter((process) => process.args.startsWith("nginx: worker"));
    assert.ok(workers.length > 0, "no nginx worker is running");
    assert.deepEqual([...new Set(workers.map((process) => process.uid))], [await uidOf(name, "nginx")]);
    // nginx logs a request after answering it, and docker logs reads what has arrived so far.
    await until("the access log line in docker logs", async () =>
      /GET \/ HTTP\/1.1" 503/.test(await docker("logs", name)) ? true : undefined,
    );
    fs.rmSync(dir, { recursive: true });
  });

  it("demo app: migrates and answers its health contract on Node 20, as a non-root user", async () => {
    const network = `${prefix}-net`;
    await docker("network", "create", network);
    const password = `pw-${prefix}`;
    const db = await startContainer("app-db", [
      "--network",
      network,
      "--network-alias",
      "postgres",
      "-e",
      `POSTGRES_PASSWORD=${password}`,
      "-e",
      "POSTGRES_USER=app",
      "-e",
      "POSTGRES_DB=app",
      pinnedImage("postgres"),
    ]);
    await postgresReady(db, "app", "app");
    const databaseUrl = `postgres://app:${password}@postgres:5432/app`;
    const app = pinnedImage("demo-app");
    const migrate = await runChecked(
      "docker",
      ["run", "--rm", "--network", network, "-e", `DATABASE_URL=${databaseUrl}`, app, "node", "migrate.js"],
      { timeoutMs: 120_000 },
    );
    assert.match(migrate.output, /00[12]/);
    const name = await startContainer("app", [
      "--network",
      network,
      "--publish",
      "127.0.0.1::3000",
      "-e",
      `DATABASE_URL=${databaseUrl}`,
      "-e",
      "APP_VERSION=1.2.3",
      "-e",
      "SLOT=green",
      app,
    ]);
    const port = (await docker("port", name, "3000/tcp")).split(":").pop();
    const health = await waitForHttp(`http://127.0.0.1:${port}/health`, (res) => res.status === 200, 60_000);
    const body = JSON.parse(health.body) as { status: string; version: string };
    assert.equal(body.status, "healthy");
    assert.equal(body.version, "1.2.3");
    assert.match(await docker("exec", name, "node", "--version"), /^v20\./);
    assert.equal(await docker("exec", name, "id", "-un"), "node");
    // The container healthcheck the AppSlot sets calls curl inside the container.
    await docker("exec", name, "curl", "--fail", "--silent", "http://127.0.0.1:3000/health");
  });

  it("lego: /usr/bin/lego as the entrypoint, and a POSIX sh with the coreutils a renew hook uses", async () => {
    const image = pinnedImage("lego");
    assert.equal(
      await docker("image", "inspect", "--format", "{{json .Config.Entrypoint}}", image),
      '["/usr/bin/lego"]',
    );
    assert.match(await docker("run", "--rm", image, "--version"), /^lego version \S+ linux\//);
    const tools = ["ln", "mv", "mkdir", "cp", "cat", "date", "sleep", "sha256sum", "chmod"];
    const script = `for tool in ${tools.join(" ")}; do command -v "$tool" >/dev/null || echo "no $tool"; done`;
    assert.equal(await docker("run", "--rm", "--entrypoint", "/bin/sh", image, "-c", script), "");
    assert.equal(
      await docker(
        "run",
        "--rm",
        "--entrypoint",
        "/bin/sh",
        image,
        "-c",
        "test -s /etc/ssl/certs/ca-certificates.crt && pwd && id -u",
      ),
      "/\n0",
    );
  });

  it("each official name the engine gives is that image, at the version its tag claims", async () => {
    // The command that prints each image's own version, and what it prints.
    const versions: Record<string, { argv: string[]; version: RegExp }> = {
      postgres: { argv: ["postgres", "--version"], version: /\(PostgreSQL\) (\d+)\./ },
      redis: { argv: ["redis-server", "--version"], version: /v=(\d+\.\d+)\./ },
      nginx: { argv: ["nginx", "-v"], version: /nginx\/(\d+\.\d+)\./ },
      caddy: { argv: ["caddy", "version"], version: /^v(\d+\.\d+)\./ },
      // Debian builds lego without the release's version flag: `lego --version` says `dev`.
      lego: {
        argv: ["dpkg-query", "--show", "--showformat=${Version}", "lego"],
        version: /^(\d+\.\d+\.\d+)-/,
      },
      node: { argv: ["node", "--version"], version: /^v(\d+)\./ },
    };
    const officials = imageSpecs("0.0.0").filter((spec) => spec.official !== undefined);
    assert.deepEqual(officials.map((spec) => spec.name).sort(), Object.keys(versions).sort());
    for (const spec of officials) {
      const official = String(spec.official);
      assert.equal(
        await docker("image", "inspect", "--format", "{{.Id}}", official),
        await docker("image", "inspect", "--format", "{{.Id}}", pinnedImage(spec.name)),
      );
      const { argv, version } = versions[spec.name];
      const printed = (
        await runChecked("docker", ["run", "--rm", "--entrypoint", argv[0], official, ...argv.slice(1)])
      ).output;
      const line = version.exec(printed.trim())?.[1];
      assert.ok(line, `${official}: ${printed}`);
      // `postgres:17-trixie` claims 17, `redis:8.0` claims 8.0, `goacme/lego:v4.9.1` 4.9.1: the tag
      // starts with the version line.
      assert.ok(official.split(":")[1].replace(/^v/, "").startsWith(line), `${official} runs ${line}`);
    }
  });
});
