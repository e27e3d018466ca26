/**
 * The ACME client's script (components/providers/acmeClient.ts) with a stand-in `lego` on PATH:
 * how it installs a certificate as the router's live one, keeps its files to itself, asks the CA
 * only when it has nothing for these settings, keeps the live certificate and says why when the
 * CA refuses, and renews in its loop with the retry it promises. The real lego against a real CA
 * is test/e2e/acme.test.ts; this pins the script's own logic, failures included, in seconds. It
 * runs twice: with this host's tools (Debian's, as in the lego image `npm run engine` builds) and
 * with BusyBox's alone (Alpine's, as in the official images).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  acmeClientEnvironment,
  acmeClientScript,
  acmeCommands,
  type AcmeSettings,
} from "../../components/providers/acmeClient";
import { routerLayout } from "../../components/providers/routerState";
import { selfSignedCertificate } from "../support/nginx";
import { Background, delay, run } from "../support/process";

/**
 * Stands in for lego: records each call's command and first name, fails with a CA's words while
 * `fail` exists, and otherwise copies the certificate `next` links to where lego keeps it.
 */
const fakeLego = `#!/usr/bin/env sh
path=""; first=""; command=""
while [ $# -gt 0 ]; do
  case "$1" in
    --path) path="$2"; shift 2 ;;
    --domains) [ -n "$first" ] || first="$2"; shift 2 ;;
    --email|--server|--http.webroot|--days) shift 2 ;;
    run|renew) command="$1"; shift ;;
    *) shift ;;
  esac
done
echo "$command $first" >> "$FAKE_LEGO/calls"
if [ -f "$FAKE_LEGO/fail" ]; then
  echo "[$first] acme: error: 400 :: urn:ietf:params:acme:error:rejectedIdentifier :: not allowed"
  exit 1
fi
next="$(readlink "$FAKE_LEGO/next")"
mkdir -p "$path/certificates"
cp "$next/crt" "$path/certificates/$first.crt"
cp "$next/key" "$path/certificates/$first.key"
`;

const settings: AcmeSettings = {
  email: "ops@example.com",
  directory: "https://ca.example.com/directory",
  names: ["shop.example.com", "www.shop.example.com"],
  checkIntervalSeconds: 1,
};

/**
 * A directory of BusyBox's applets, the tools the official `goacme/lego` images (Alpine) give the
 * script, so it runs with nothing of the host's on its PATH.
 */
async function busyboxTools(): Promise<string> {
  const listed = await run("busybox", ["--list"]);
  if (listed.code !== 0) throw new Error(`busybox is needed here (apt install busybox): ${listed.output}`);
  const tools = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-busybox-"));
  const busybox = (await run("sh", ["-c", "command -v busybox"])).stdout.trim();
  for (const applet of listed.stdout.split("\n").filter(Boolean))
    fs.symlinkSync(busybox, path.join(tools, applet));
  return tools;
}

const toolsets: { name: string; tools: () => Promise<string | undefined> }[] = [
  { name: "this host's shell and coreutils", tools: async () => undefined },
  { name: "BusyBox, as in the official image", tools: busyboxTools },
];

for (const toolset of toolsets)
  describe(`the ACME client's script with ${toolset.name}, and a stand-in lego`, function () {
    this.timeout(60_000);
    /** The toolset's PATH; undefined for the host's own. */
    let tools: string | undefined;
    let dir: string;
    let stateDir: string;
    let legoDir: string;
    let env: NodeJS.ProcessEnv;
    let script: string;

    const layout = () => routerLayout(stateDir);
    const calls = () =>
      fs
        .readFileSync(path.join(legoDir, "calls"), "utf8")
        .split("\n")
        .filter((line) => line !== "");
    const liveTarget = () => fs.readlinkSync(layout().certificate);
    /** The CA's next certificate, swapped in whole: a renewal meanwhile copies one pair, never half of two. */
    const nextCertificate = async () => {
      const tls = await selfSignedCertificate();
      const pair = fs.mkdtempSync(path.join(legoDir, "pair-"));
      fs.writeFileSync(path.join(pair, "crt"), tls.certificate);
      fs.writeFileSync(path.join(pair, "key"), tls.key);
      fs.symlinkSync(pair, path.join(legoDir, "next.new"));
      fs.renameSync(path.join(legoDir, "next.new"), path.join(legoDir, "next"));
      return tls;
    };
    /** Waits until `live` is the only certificate left: the loop prunes the last one after saying it switched. */
    const prunedTo = async (live: string) => {
      const left = () => fs.readdirSync(layout().certificates);
      for (let attempt = 0; attempt < 50 && left().join() !== live; attempt++) await delay(100);
      assert.deepEqual(left(), [live]);
    };
    const ensure = () => {
      const [shell, , ...args] = acmeCommands.ensure("");
      return run(shell, [script, ...args], { env });
    };

    before(async () => {
      tools = await toolset.tools();
      if (tools) {
        // Else both runs would test the host's tools: the script's `sh` must be BusyBox's.
        const shell = await run("sh", ["-c", "readlink /proc/$$/exe"], { env: { PATH: tools } });
        assert.equal(shell.stdout.trim(), fs.realpathSync(path.join(tools, "sh")));
      }
    });

    after(() => {
      if (tools) fs.rmSync(tools, { recursive: true, force: true });
    });

    beforeEach(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-acme-"));
      stateDir = path.join(dir, "state");
      legoDir = path.join(dir, "lego");
      fs.mkdirSync(stateDir);
      fs.mkdirSync(path.join(legoDir, "bin"), { recursive: true });
      fs.writeFileSync(path.join(legoDir, "bin", "lego"), fakeLego, { mode: 0o755 });
      fs.writeFileSync(path.join(legoDir, "calls"), "");
      script = path.join(dir, "acme.sh");
      fs.writeFileSync(script, acmeClientScript);
      const variables = Object.fromEntries(
        acmeClientEnvironment(settings, stateDir).map((line) => line.split(/=(.*)/s).slice(0, 2)),
      ) as Record<string, string>;
      env = {
        ...variables,
        PATH: `${path.join(legoDir, "bin")}:${tools ?? process.env.PATH}`,
        FAKE_LEGO: legoDir,
      };
      await nextCertificate();
    });

    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("obtains a certificate for the first name and all, installs it as the live one, 0600 in 0700 directories", async () => {
      const tls = await nextCertificate();
      const result = await ensure();
      assert.equal(result.code, 0, result.output);
      assert.deepEqual(calls(), ["run shop.example.com"]);
      assert.match(liveTarget(), /^certificates\/acme-[0-9a-f]{16}$/);
      const live = path.join(stateDir, liveTarget());
      assert.equal(fs.readFileSync(path.join(live, "fullchain.pem"), "utf8"), tls.certificate);
      assert.equal(fs.readFileSync(path.join(live, "privkey.pem"), "utf8"), tls.key);
      const mode = (file: string) => (fs.statSync(file).mode & 0o777).toString(8);
      assert.deepEqual([live, path.join(live, "privkey.pem"), layout().acme].map(mode), [
        "700",
        "600",
        "700",
      ]);
      assert.equal(mode(layout().acmeWebroot), "755", "nginx's workers read the tokens");
      assert.match(result.stderr, /new handshakes get certificate acme-/);
    });

    it("asks the CA nothing when it has the certificate for these settings, and again when they change", async () => {
      assert.equal((await ensure()).code, 0);
      const installed = liveTarget();
      const again = await ensure();
      assert.equal(again.code, 0, again.output);
      assert.match(again.stderr, /the certificate for shop\.example\.com www\.shop\.example\.com is here/);
      assert.deepEqual(calls(), ["run shop.example.com"]);
      assert.equal(liveTarget(), installed);

      env = { ...env, ACME_NAMES: "www.shop.example.com" };
      assert.equal((await ensure()).code, 0);
      assert.deepEqual(calls(), ["run shop.example.com", "run www.shop.example.com"]);
    });

    it("keeps the live certificate when the CA refuses, and says the CA's reason", async () => {
      assert.equal((await ensure()).code, 0);
      const installed = liveTarget();
      fs.writeFileSync(path.join(legoDir, "fail"), "");
      env = { ...env, ACME_NAMES: "shop.example.com refused.example.com" };
      const refused = await ensure();
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /urn:ietf:params:acme:error:rejectedIdentifier :: not allowed/);
      assert.equal(liveTarget(), installed);
      const lastError = fs.readFileSync(path.join(layout().acme, "last-error"), "utf8");
      assert.match(lastError, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n.*rejectedIdentifier/);
      const printed = await run("sh", acmeCommands.lastError(stateDir).slice(1));
      assert.equal(printed.stdout, lastError);

      // Put back: the refusal was for names no longer wanted, not for the live certificate's.
      env = { ...env, ACME_NAMES: settings.names.join(" ") };
      assert.equal((await ensure()).code, 0);
      assert.equal((await run("sh", acmeCommands.lastError(stateDir).slice(1))).stdout, "");
    });

    it("keeps a renewal's failure through `pulumi up` on the same settings", async () => {
      assert.equal((await ensure()).code, 0);
      fs.writeFileSync(path.join(legoDir, "fail"), "");
      const loop = new Background("sh", [script, "renew-loop"], { env });
      try {
        await loop.waitForOutput(/renewal failed; the live certificate stays/);
      } finally {
        loop.child.kill("SIGTERM");
      }
      await loop.exited;
      const failure = (await run("sh", acmeCommands.lastError(stateDir).slice(1))).stdout;
      assert.match(failure, /rejectedIdentifier/);
      assert.equal((await ensure()).code, 0);
      assert.equal((await run("sh", acmeCommands.lastError(stateDir).slice(1))).stdout, failure);
    });

    it("renews in its loop, installs each new certificate and prunes the last; on failure keeps it and retries", async () => {
      assert.equal((await ensure()).code, 0);
      const first = liveTarget();
      const loop = new Background("sh", [script, "renew-loop"], { env });
      try {
        await nextCertificate();
        await loop.waitForOutput(/new handshakes get certificate acme-/);
        const renewed = liveTarget();
        assert.notEqual(renewed, first);
        await prunedTo(renewed.replace("certificates/", ""));

        fs.writeFileSync(path.join(legoDir, "fail"), "");
        await loop.waitForOutput(/renewal failed; the live certificate stays; next attempt in 1s/);
        assert.equal(liveTarget(), renewed);
        assert.ok(fs.existsSync(path.join(layout().acme, "last-error")));

        fs.rmSync(path.join(legoDir, "fail"));
        await nextCertificate();
        const other = new RegExp(`new handshakes get certificate acme-(?!${renewed.slice(-16)})[0-9a-f]{16}`);
        await loop.waitForOutput(other);
        assert.ok(!fs.existsSync(path.join(layout().acme, "last-error")), "a renewal clears the failure");
      } finally {
        loop.child.kill("SIGTERM");
      }
      const exit = await loop.exited;
      assert.equal(exit.code, 0, "it stops at once on SIGTERM");
      assert.ok(calls().every((call) => /^(run|renew) shop\.example\.com$/.test(call)));
    });

    it("waits for `pulumi up` before anything is obtained", async () => {
      const loop = new Background("sh", [script, "renew-loop"], { env });
      try {
        await loop.waitForOutput(/waiting for pulumi up to obtain the first certificate/);
      } finally {
        loop.child.kill("SIGTERM");
      }
      await loop.exited;
      assert.deepEqual(calls(), []);
    });
  });
