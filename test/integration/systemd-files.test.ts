/**
 * The commands that put a native slot's files in place, run for real in a shell (as root, as on
 * a VPS reached as root), with `systemctl` replaced by a stub that logs its arguments.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runChecked, withExecutor } from "../../components/providers/executor";
import {
  installBinaryArgv,
  type NativeService,
  servicePaths,
  startArgv,
  writeFileArgv,
} from "../../components/providers/systemdUnit";

describe("a native slot's files on its host", () => {
  let dir: string;
  let service: NativeService;
  const binary = Buffer.from("#!/bin/sh\necho native\n");
  const realPath = process.env.PATH;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-native-"));
    fs.mkdirSync(path.join(dir, "stub"));
    fs.writeFileSync(
      path.join(dir, "stub", "systemctl"),
      `#!/bin/sh\necho "$*" >> ${path.join(dir, "systemctl.log")}\n`,
      { mode: 0o755 },
    );
    // The executor's commands find the stub first, as they would find systemctl on a host.
    process.env.PATH = `${path.join(dir, "stub")}:${realPath}`;
    service = {
      unit: "t-blue",
      user: "root",
      directory: path.join(dir, "opt"),
      version: "1.0.0",
      sha256: createHash("sha256").update(binary).digest("hex"),
      resources: { memoryMb: 64, cpus: 1 },
      restartPolicy: "always",
    };
  });
  after(() => {
    process.env.PATH = realPath;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const run = (argv: string[], stdin?: string | Buffer) =>
    withExecutor({ kind: "local" }, (executor) => runChecked(executor, argv, { stdin }));

  it("stores the binary only when it arrived whole, executable, in its release's directory", async () => {
    await run(installBinaryArgv(service), binary);
    const stored = servicePaths(service).binary;
    assert.deepEqual(fs.readFileSync(stored), binary);
    assert.equal(fs.statSync(stored).mode & 0o777, 0o755);

    const other = { ...service, version: "1.0.1" };
    await assert.rejects(run(installBinaryArgv(other), binary.subarray(0, 5)), /arrived with another sha256/);
    assert.deepEqual(fs.readdirSync(servicePaths(other).release), [], "nothing of the partial upload stays");
  });

  it("takes the user another release created while it looked (two slots released at once)", async () => {
    // `id` finds no user at first; `useradd` then fails as it does when the other slot created it.
    const stub = path.join(dir, "stub");
    fs.writeFileSync(
      path.join(stub, "id"),
      `#!/bin/sh\nif [ "$#" -lt 2 ] || [ -e ${dir}/looked ]; then exec /usr/bin/id "$1"; fi\ntouch ${dir}/looked\nexit 1\n`,
      { mode: 0o755 },
    );
    fs.writeFileSync(
      path.join(stub, "useradd"),
      "#!/bin/sh\necho \"useradd: user '$6' already exists\" >&2\nexit 9\n",
      {
        mode: 0o755,
      },
    );
    try {
      await run(installBinaryArgv({ ...service, user: "psychichomily", version: "2.0.0" }), binary);
    } finally {
      fs.rmSync(path.join(stub, "id"));
      fs.rmSync(path.join(stub, "useradd"));
    }
  });

  it("writes a file in one rename with its mode, creating its directory", async () => {
    const file = path.join(dir, "etc", "t-blue.env");
    await run(writeFileArgv(file, "0600"), 'A="1"\n');
    assert.equal(fs.readFileSync(file, "utf8"), 'A="1"\n');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(fs.readdirSync(path.dirname(file)), ["t-blue.env"]);
  });

  it("restarts the unit and keeps only the releases it is told to", async () => {
    const release = (version: string) => servicePaths({ ...service, version }).release;
    for (const version of ["1.0.0", "1.0.1", "1.0.2"]) fs.mkdirSync(release(version), { recursive: true });
    await run(startArgv(service, [release("1.0.1"), release("1.0.2")]));
    assert.deepEqual(
      fs
        .readdirSync(servicePaths(service).releases)
        .map((name) => path.join(servicePaths(service).releases, name)),
      [release("1.0.1"), release("1.0.2")],
    );
    assert.equal(
      fs.readFileSync(path.join(dir, "systemctl.log"), "utf8"),
      "daemon-reload\nenable --quiet t-blue.service\nrestart t-blue.service\n",
    );
  });
});
