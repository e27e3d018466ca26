/**
 * Services beside the app through the real engine, as Meme Maker runs them: a Redis queue as an
 * accessory, and a worker consuming it. Accessories run where the config says (the internal
 * network; the edge, with a loopback port; their limits, healthy before the slots start), a
 * release and a switch leave them running as they were, `pulumi up --refresh` brings it back with its data after it was
 * removed, and its secret reaches its environment but never the state in plain text. The worker
 * runs the active slot's image, moves with the switch, and a worker that dies in its stable
 * window fails the update with its last lines.
 */
import assert from "node:assert/strict";
import * as net from "node:net";
import { hostNames } from "../../infra/names";
import { run, runChecked } from "../support/process";
import { newNamedDevStack, pinnedImage, runningAs, type TestStack, workerCommand } from "./support/engine";
import { answersOnNewConnections } from "./support/traffic";

const deployment = "services";
const names = hostNames(deployment);
const queue = names.accessory("queue");
const queueVolume = names.accessoryVolume("queue", "data");
const queueToken = `queue-token-${Date.now()}`;
const worker = names.worker("video");
const site = "http://127.0.0.1:8183/";

/** Redis's answer to `command` on 127.0.0.1:`port`, as a client on this machine gets it. */
function redisAnswer(port: number, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(`${command}\r\n`));
    socket.setTimeout(5000, () => socket.destroy(new Error(`no answer on 127.0.0.1:${port}`)));
    socket.once("data", (data) => {
      socket.end();
      resolve(data.toString().trim());
    });
    socket.once("error", reject);
  });
}

/** The queue's answer to a command, through redis-cli in its container. */
async function queueSays(...command: string[]): Promise<string> {
  return (await runChecked("docker", ["exec", queue, "redis-cli", ...command])).stdout.trim();
}

async function inspect(container: string, format: string): Promise<string> {
  return (await runChecked("docker", ["inspect", "--format", format, container])).stdout.trim();
}

/** What a container runs: its image id and the env entries named `names`. */
async function running(container: string, names: string[]): Promise<{ image: string; env: string[] }> {
  const env = JSON.parse(await inspect(container, "{{json .Config.Env}}")) as string[];
  return {
    image: await inspect(container, "{{.Image}}"),
    env: env.filter((entry) => names.includes(entry.slice(0, entry.indexOf("=")))).sort(),
  };
}

describe("an accessory and a worker beside the app, through the real engine", function () {
  this.timeout(900_000);
  let stack: TestStack;

  before(async () => {
    stack = await newNamedDevStack(
      deployment,
      { httpPort: 8183, checkPort: 18380, loopbackPorts: { blue: 18381, green: 18382 } },
      {
        "switchyard:accessories": {
          queue: {
            image: pinnedImage("redis"),
            // Every write on disk before it answers: the test removes the container right after one.
            command: ["redis-server", "--appendonly", "yes", "--appendfsync", "always"],
            env: { QUEUE_NAME: "videos" },
            volumes: { data: "/data" },
            resources: { memoryMb: 128, cpus: 0.5 },
            healthcheck: { command: ["redis-cli", "ping"], intervalSeconds: 1 },
          },
          // On the edge network: Docker publishes ports only from a network with a way out.
          board: {
            image: pinnedImage("redis"),
            network: "edge",
            ports: [{ container: 6379, loopback: 18383 }],
            // So that `pulumi up` returns only once it answers.
            healthcheck: { command: ["redis-cli", "ping"], intervalSeconds: 1 },
          },
        },
        "switchyard:workers": {
          video: { command: workerCommand(), env: { QUEUE: "videos" }, stableForSeconds: 5 },
        },
      },
    );
    await stack.setSecrets({ "accessorySecrets.queue.QUEUE_TOKEN": queueToken });
  });

  after(() => stack?.teardown());

  it("runs them on their networks, a port on loopback, with limits, healthy, the secret in the env only", async () => {
    await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
    assert.equal(await inspect(queue, "{{.State.Health.Status}}"), "healthy");
    assert.equal(
      await inspect(queue, "{{json .NetworkSettings.Networks}}").then((n) =>
        Object.keys(JSON.parse(n)).join(),
      ),
      names.privateNetwork,
    );
    assert.equal(
      (
        await runChecked("docker", ["network", "inspect", "--format", "{{.Internal}}", names.privateNetwork])
      ).stdout.trim(),
      "true",
    );
    assert.equal(
      await inspect(queue, "{{json .NetworkSettings.Ports}}"),
      "{}",
      "the queue publishes nothing",
    );
    assert.equal(
      await inspect(names.accessory("board"), "{{json .NetworkSettings.Ports}}"),
      '{"6379/tcp":[{"HostIp":"127.0.0.1","HostPort":"18383"}]}',
    );
    assert.equal(
      await inspect(
        queue,
        "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.RestartPolicy.Name}}",
      ),
      `${128 * 1024 * 1024} 500000000 unless-stopped`,
    );
    assert.equal(
      await inspect(queue, "{{range .Mounts}}{{.Name}} {{.Destination}}{{end}}"),
      `${queueVolume} /data`,
    );
    const env = await inspect(queue, "{{json .Config.Env}}");
    assert.ok(env.includes('"QUEUE_NAME=videos"') && env.includes(`"QUEUE_TOKEN=${queueToken}"`), env);

    assert.equal(await redisAnswer(18383, "PING"), "+PONG", "the board is reached on loopback");
    assert.equal(await queueSays("PING"), "PONG");
    // The slots reach it by its name on the private network.
    const fromSlot = await run("docker", [
      "exec",
      names.slots.blue,
      "node",
      "-e",
      "require('net').connect(6379, 'queue').on('connect', () => process.exit(0)).on('error', () => process.exit(1))",
    ]);
    assert.equal(fromSlot.code, 0, fromSlot.output);
    assert.ok(!(await stack.exportState()).includes(queueToken), "the state holds the secret encrypted only");

    assert.deepEqual(await running(worker, ["SLOT", "APP_VERSION", "WORKER", "QUEUE"]), {
      image: await inspect(names.slots.blue, "{{.Image}}"),
      env: ["APP_VERSION=1.0.0", "QUEUE=videos", "SLOT=blue", "WORKER=video"],
    });
    assert.equal(await inspect(worker, "{{.State.Running}}"), "true");
  });

  it("moves the worker to the new version with the switch, and leaves the accessory running as it was", async () => {
    const accessories = [queue, names.accessory("board")];
    const before = await runningAs(accessories);
    const workerBefore = await runningAs([worker]);
    await stack.pulumiChecked(["config", "set", "--path", "slots.green.version", "1.2.0"]);
    await stack.pulumiChecked(["config", "set", "activeSlot", "green"]);
    await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
    assert.deepEqual(await answersOnNewConnections(5, site), ["green 1.2.0"]);
    assert.deepEqual(await runningAs(accessories), before, "not replaced, not restarted");
    assert.notDeepEqual(await runningAs([worker]), workerBefore, "the worker was replaced");
    assert.deepEqual(await running(worker, ["SLOT", "APP_VERSION"]), {
      image: await inspect(names.slots.green, "{{.Image}}"),
      env: ["APP_VERSION=1.2.0", "SLOT=green"],
    });
    await stack.pulumiChecked(["preview", "--expect-no-changes"]);
  });

  it("fails the update with its last lines when the new worker dies in its stable window, and converges once fixed", async () => {
    // Dead 2 s after it started: late enough that Docker's provider saw it running, and inside
    // the window however late that starts (each new life dies within 2 s too).
    await stack.setList("workers.video.command", workerCommand(2000));
    const failed = await stack.pulumi(["up", "--yes", "--skip-preview"], 600_000);
    assert.notEqual(failed.code, 0, failed.output);
    assert.match(
      failed.output,
      new RegExp(`worker ${worker} stopped or restarted after \\d+ s of its 5 s window`),
    );
    assert.match(failed.output, /worker video 1\.2\.0/, "its last lines");
    assert.deepEqual(await answersOnNewConnections(5, site), ["green 1.2.0"], "traffic stays where it is");

    await stack.setList("workers.video.command", workerCommand());
    await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
    assert.equal(await inspect(worker, "{{.State.Running}}"), "true");
    await stack.pulumiChecked(["preview", "--expect-no-changes"]);
  });

  it("comes back with its data on the next `pulumi up --refresh` after it was removed", async () => {
    assert.equal(await queueSays("SET", "upload:1", "done"), "OK");
    await runChecked("docker", ["rm", "--force", queue]);
    await stack.pulumiChecked(["up", "--yes", "--skip-preview", "--refresh"], 600_000);
    assert.equal(await inspect(queue, "{{.State.Health.Status}}"), "healthy");
    assert.equal(await queueSays("GET", "upload:1"), "done");
    await stack.pulumiChecked(["preview", "--expect-no-changes"]);
  });
});
