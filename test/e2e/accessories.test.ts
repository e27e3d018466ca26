/**
 * An accessory through the real engine: a Redis queue beside the app, as Meme Maker runs its
 * queue, MinIO and Prometheus. It runs where the config says (the internal network, a loopback
 * port, its limits, healthy before the slots start), a release and a switch leave it running as it
 * was, `pulumi up --refresh` brings it back with its data after it was removed, and its secret
 * reaches its environment but never the state in plain text.
 */
import assert from "node:assert/strict";
import * as net from "node:net";
import { hostNames } from "../../infra/names";
import { run, runChecked } from "../support/process";
import { newNamedDevStack, pinnedImage, runningAs, type TestStack } from "./support/engine";
import { answersOnNewConnections } from "./support/traffic";

const deployment = "accessories";
const names = hostNames(deployment);
const queue = names.accessory("queue");
const queueVolume = names.accessoryVolume("queue", "data");
const queueToken = `queue-token-${Date.now()}`;
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

async function inspect(container: string, format: string): Promise<string> {
  return (await runChecked("docker", ["inspect", "--format", format, container])).stdout.trim();
}

describe("an accessory beside the app, through the real engine", function () {
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
            ports: [{ container: 6379, loopback: 18383 }],
            volumes: { data: "/data" },
            resources: { memoryMb: 128, cpus: 0.5 },
            healthcheck: { command: ["redis-cli", "ping"], intervalSeconds: 1 },
          },
        },
      },
    );
    await stack.setSecrets({ "accessorySecrets.queue.QUEUE_TOKEN": queueToken });
  });

  after(() => stack?.teardown());

  it("runs it on the internal network with its port on loopback, its limits, healthy, its secret in its env only", async () => {
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
      await inspect(queue, "{{json .HostConfig.PortBindings}}"),
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

    assert.equal(await redisAnswer(18383, "PING"), "+PONG", "reached on loopback");
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
  });

  it("leaves it running as it was through a release and a switch", async () => {
    const before = await runningAs([queue]);
    await stack.pulumiChecked(["config", "set", "--path", "slots.green.version", "1.2.0"]);
    await stack.pulumiChecked(["config", "set", "activeSlot", "green"]);
    await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
    assert.deepEqual(await answersOnNewConnections(5, site), ["green 1.2.0"]);
    assert.deepEqual(await runningAs([queue]), before, "not replaced, not restarted");
    await stack.pulumiChecked(["preview", "--expect-no-changes"]);
  });

  it("comes back with its data on the next `pulumi up --refresh` after it was removed", async () => {
    assert.equal(await redisAnswer(18383, "SET upload:1 done"), "+OK");
    await runChecked("docker", ["rm", "--force", queue]);
    await stack.pulumiChecked(["up", "--yes", "--skip-preview", "--refresh"], 600_000);
    assert.equal(await inspect(queue, "{{.State.Health.Status}}"), "healthy");
    assert.equal(await redisAnswer(18383, "GET upload:1"), "$4\r\ndone");
    await stack.pulumiChecked(["preview", "--expect-no-changes"]);
  });
});
