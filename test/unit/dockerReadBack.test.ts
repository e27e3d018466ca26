import assert from "node:assert/strict";
import fc from "fast-check";
import { cpusKept, dockerCpus, dockerDuration } from "../../infra/dockerReadBack";

/**
 * What the Docker provider reads back, printed by its own Go code (`nanoInt64ToDecimalString` of
 * the nano-CPUs; `time.Duration.String()` of the healthcheck's durations).
 */
const providerCpus: [number, string][] = [
  [0, "0"],
  [1.123456789, "1.123456789"],
  [0.05, "0.1"],
  [0.1, "0.1"],
  [0.15, "0.15"],
  [0.25, "0.25"],
  [0.5, "0.5"],
  [1, "1.0"],
  [1.5, "1.5"],
  [2, "2.0"],
  [2.05, "2.05"],
  [10, "10."],
  [10.05, "10.1"],
  [10.5, "10.5"],
  [20, "20."],
  [64, "64.0"],
  [0.125, "0.125"],
  [1.05, "1.05"],
  [1.005, "1.005"],
  [0.033333333, "0.033333333"],
  [0.95, "0.95"],
  [5, "5.0"],
  [30.001, "30.0"],
  [0.101, "0.101"],
  [2.5, "2.5"],
  [12.5, "12.5"],
  [63.999, "63.999"],
  [40, "40."],
  [0.3, "0.3"],
  [1.01, "1.01"],
  [3.05, "3.05"],
  [30, "30."],
];
const goDurations: [number, string][] = [
  [1, "1s"],
  [0.999, "999ms"],
  [0, "0s"],
  [0.5, "500ms"],
  [5, "5s"],
  [60, "1m0s"],
  [90, "1m30s"],
  [1.5, "1.5s"],
  [3600, "1h0m0s"],
  [3661, "1h1m1s"],
  [2.05, "2.05s"],
  [0.125, "125ms"],
  [36000, "10h0m0s"],
];

describe("values as the Docker provider reads them back", () => {
  it("spells CPU limits exactly as the provider does, quirks included", () => {
    for (const [cpus, spelled] of providerCpus) assert.equal(dockerCpus(cpus), spelled, String(cpus));
  });

  it("keeps a CPU limit only when the provider's spelling means the same number", () => {
    assert.equal(cpusKept(1), true);
    assert.equal(cpusKept(10), true);
    assert.equal(cpusKept(0.05), false);
    assert.equal(cpusKept(10.05), false);
    assert.equal(cpusKept(30.001), false);
  });

  it("spells durations as Go does", () => {
    for (const [seconds, spelled] of goDurations)
      assert.equal(dockerDuration(seconds), spelled, String(seconds));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 86_400_000 }), (ms) => {
        const spelled = dockerDuration(ms / 1000);
        const parts = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s|(\d+)ms)$/.exec(spelled);
        assert.ok(parts, spelled);
        const total =
          Number(parts[1] ?? 0) * 3_600_000 +
          Number(parts[2] ?? 0) * 60_000 +
          Math.round(Number(parts[3] ?? 0) * 1000) +
          Number(parts[4] ?? 0);
        assert.equal(total, ms);
      }),
    );
  });
});
