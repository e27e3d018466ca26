/** The pure parts of components/target.ts: target parsing, the docker host, pinning, quoting. */
import assert from "node:assert/strict";
import {
  dockerHost,
  knownHostsLine,
  parseTarget,
  shellCommand,
  shellQuote,
  strictSshOptions,
  type Target,
} from "../../components/target";
import { run } from "../support/process";

const hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHVzZWQtb25seS1mb3ItdGVzdHMtMDEyMzQ1Njc4OWFi";

/** Deterministic awkward words: every shell metacharacter, quotes, whitespace and non-ASCII. */
function awkwardWords(count: number): string[] {
  const alphabet = [
    "a",
    "Z",
    "0",
    " ",
    "\t",
    "\n",
    "'",
    '"',
    "\\",
    "$",
    "`",
    "!",
    "*",
    "?",
    "[",
    "]",
    "{",
    "}",
    "(",
    ")",
    "<",
    ">",
    "|",
    "&",
    ";",
    "#",
    "~",
    "=",
    "%",
    "-",
    "é",
    "✓",
  ];
  let seed = 20240611;
  const next = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed;
  };
  return Array.from({ length: count }, () =>
    Array.from({ length: next() % 12 }, () => alphabet[next() % alphabet.length]).join(""),
  );
}

/** What `sh` makes of `text` as the arguments of printf: one NUL-terminated entry per word. */
async function wordsAsShellSeesThem(text: string): Promise<string[]> {
  const printed = await run("sh", ["-c", `printf '%s\\0' ${text}`]);
  assert.equal(printed.code, 0, printed.stderr);
  return printed.stdout.split("\0").slice(0, -1);
}

describe("target", () => {
  describe("parseTarget", () => {
    it("treats a unix socket as a local target", () => {
      assert.deepEqual(parseTarget({ host: "unix:///var/run/docker.sock" }), {
        kind: "local",
        dockerHost: "unix:///var/run/docker.sock",
      });
    });

    it("reads user, host and port of an ssh target, port 22 by default", () => {
      assert.deepEqual(parseTarget({ host: "ssh://deploy@203.0.113.10:2222", hostKey }), {
        kind: "ssh",
        user: "deploy",
        host: "203.0.113.10",
        port: 2222,
        hostKey,
      });
      assert.equal(
        (parseTarget({ host: "ssh://deploy@vps.example.com", hostKey }) as { port: number }).port,
        22,
      );
    });

    it("refuses an ssh target without a pinned host key", () => {
      assert.throws(
        () => parseTarget({ host: "ssh://deploy@203.0.113.10" }),
        /an ssh:\/\/ target needs a pinned hostKey/,
      );
    });
  });

  describe("dockerHost and knownHostsLine", () => {
    const ssh: Extract<Target, { kind: "ssh" }> = {
      kind: "ssh",
      user: "deploy",
      host: "203.0.113.10",
      port: 22,
      hostKey,
    };

    it("points docker at the socket or at the ssh target with its port", () => {
      assert.equal(
        dockerHost({ kind: "local", dockerHost: "unix:///run/docker.sock" }),
        "unix:///run/docker.sock",
      );
      assert.equal(dockerHost(ssh), "ssh://deploy@203.0.113.10:22");
    });

    it("names the host the way ssh looks it up: bare on port 22, bracketed with any other port", () => {
      assert.equal(knownHostsLine(ssh), `203.0.113.10 ${hostKey}`);
      assert.equal(knownHostsLine({ ...ssh, port: 2222 }), `[203.0.113.10]:2222 ${hostKey}`);
    });

    it("lets ssh use only the given identity and known hosts, never asking", () => {
      const options = strictSshOptions("/keys/id", "/keys/known_hosts");
      const settings = options.filter((_, index) => options[index - 1] === "-o");
      assert.deepEqual(settings.sort(), [
        "BatchMode=yes",
        "GlobalKnownHostsFile=/dev/null",
        "IdentitiesOnly=yes",
        "StrictHostKeyChecking=yes",
        "UserKnownHostsFile=/keys/known_hosts",
      ]);
      assert.equal(options[options.indexOf("-i") + 1], "/keys/id");
    });
  });

  describe("shell quoting", () => {
    it("leaves plain words readable and quotes everything else", () => {
      assert.equal(shellQuote("nginx"), "nginx");
      assert.equal(shellQuote("/etc/nginx/conf.d/site.conf"), "/etc/nginx/conf.d/site.conf");
      assert.equal(shellQuote(""), "''");
      assert.equal(shellQuote("it's"), `'it'\\''s'`);
    });

    it("round-trips every word through a real sh", async () => {
      const words = [
        "",
        "it's",
        "$HOME",
        "`id`",
        "$(id)",
        "a\nb",
        "'",
        "''",
        "\\",
        "--",
        "-n",
        ...awkwardWords(300),
      ];
      for (const word of words)
        assert.deepEqual(await wordsAsShellSeesThem(shellQuote(word)), [word], JSON.stringify(word));
    });

    it("keeps a whole argv's boundaries through a real sh", async () => {
      const argv = awkwardWords(200);
      assert.deepEqual(await wordsAsShellSeesThem(shellCommand(argv)), argv);
    });
  });
});
