import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import fc from "fast-check";
import { main, type Pulumi } from "../../bin/release";
import { planRelease } from "../../bin/releasePlan";

const colour = fc.constantFrom("blue" as const, "green" as const);
const reference = fc.stringMatching(/^[a-z0-9.:/-]{1,30}@sha256:[0-9a-f]{64}$/);
const version = fc.stringMatching(/^[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{1,2}$/);

describe("release plan", () => {
  it("releases to the slot the stack does not serve, and moves traffic there only when asked", () => {
    fc.assert(
      fc.property(colour, reference, version, fc.boolean(), (active, image, v, switchTraffic) => {
        const plan = planRelease({ configured: active, deployed: active, image, version: v, switchTraffic });
        assert.ok(!("problems" in plan));
        assert.notEqual(plan.idle, active);
        assert.deepEqual(plan.settings, [
          [`slots.${plan.idle}.image`, image],
          [`slots.${plan.idle}.version`, v],
          ...(switchTraffic ? [["activeSlot", plan.idle]] : []),
        ]);
      }),
    );
  });

  it("rolls back with --switch alone: only the pointer moves", () => {
    assert.deepEqual(planRelease({ configured: "green", deployed: "green", switchTraffic: true }), {
      idle: "blue",
      settings: [["activeSlot", "blue"]],
      message: "blue keeps its image, traffic to blue",
    });
  });

  it("refuses, with every reason at once, what it cannot release", () => {
    assert.deepEqual(
      planRelease({ configured: "blue", deployed: "green", image: "app@sha256:1", switchTraffic: false }),
      {
        problems: [
          "the stack file says activeSlot=blue but the stack serves green: commit the last release's config first",
          "an image needs the version it reports (--version)",
        ],
      },
    );
    assert.deepEqual(planRelease({ configured: "blue", switchTraffic: false }), {
      problems: ["nothing to release: give an image, or --switch"],
    });
    assert.deepEqual(planRelease({ configured: "blue", version: "1.0.0", switchTraffic: true }), {
      problems: ["a version needs the image that reports it (--image)"],
    });
    assert.deepEqual(planRelease({ configured: "purple", switchTraffic: true }), {
      problems: ["activeSlot must be blue or green in the stack's config"],
    });
  });
});

describe("npm run release", () => {
  function fakePulumi(state: { activeSlot: string; deployed?: string; upCode?: number }) {
    const calls: string[] = [];
    const pulumi: Pulumi = {
      capture: async (args) => {
        calls.push(args.join(" "));
        if (args[0] === "config" && args[1] === "get") return `${state.activeSlot}\n`;
        if (args[0] === "stack" && args[2] === "activeSlot") {
          if (state.deployed === undefined) throw new Error("no outputs");
          return `${state.deployed}\n`;
        }
        if (args[0] === "stack" && args[2] === "routerUrl") return "https://shop.example.com\n";
        return "";
      },
      stream: async (args) => {
        calls.push(args.join(" "));
        return state.upCode ?? 0;
      },
    };
    return { pulumi, calls };
  }

  function io(env: NodeJS.ProcessEnv = {}) {
    const lines: string[] = [];
    return {
      lines,
      io: { env, out: (l: string) => lines.push(l), err: (l: string) => lines.push(l), projectDir: "/p" },
    };
  }

  it("sets the idle slot's release, runs up with the options after --, and reports to GitHub", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "release-test-"));
    try {
      const output = path.join(dir, "output");
      const { pulumi, calls } = fakePulumi({ activeSlot: "blue", deployed: "blue" });
      const { io: commandIo } = io({ GITHUB_OUTPUT: output });
      const argv = ["--stack", "production", "--image", "app@sha256:ab", "--version", "2.0.0", "--switch"];
      assert.equal(await main([...argv, "--", "--policy-pack", "policies"], commandIo, pulumi), 0);
      const message = "green app@sha256:ab (2.0.0), traffic to green";
      assert.deepEqual(calls, [
        "config get activeSlot --stack production",
        "stack output activeSlot --stack production",
        "config set --path slots.green.image app@sha256:ab --stack production",
        "config set --path slots.green.version 2.0.0 --stack production",
        "config set --path activeSlot green --stack production",
        `up --yes --diff --stack production --message ${message} --policy-pack policies`,
        "stack output routerUrl --stack production",
      ]);
      assert.equal(
        fs.readFileSync(output, "utf8"),
        `idle=green\nmessage=${message}\nrouter-url=https://shop.example.com\n`,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("changes nothing when the stack file and the stack disagree, and passes up's failure on", async () => {
    const refused = fakePulumi({ activeSlot: "blue", deployed: "green" });
    const out = io();
    assert.equal(await main(["--stack", "production", "--switch"], out.io, refused.pulumi), 1);
    assert.ok(refused.calls.every((call) => !call.startsWith("config set") && !call.startsWith("up")));
    assert.match(out.lines.join("\n"), /says activeSlot=blue but the stack serves green/);

    const failing = fakePulumi({ activeSlot: "blue", upCode: 255 });
    assert.equal(await main(["--stack", "production", "--switch"], io().io, failing.pulumi), 255);
    assert.ok(!failing.calls.includes("stack output routerUrl --stack production"));
  });

  it("refuses bad usage with the usage text", async () => {
    const out = io();
    assert.equal(await main(["--image", "x"], out.io, fakePulumi({ activeSlot: "blue" }).pulumi), 2);
    assert.match(out.lines.join("\n"), /--stack <name> is required[\s\S]*usage:/);
    const stray = io();
    assert.equal(
      await main(["--stack", "p", "extra"], stray.io, fakePulumi({ activeSlot: "blue" }).pulumi),
      2,
    );
    assert.match(stray.lines.join("\n"), /pulumi up options go after --/);
  });
});
