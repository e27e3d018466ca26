import assert from "node:assert/strict";
import { firstPollDelayMs, pollUntil, type PollStep } from "../../components/providers/poll";

/** Runs the loop over a fixed list of states, recording the waits it asks for instead of waiting. */
async function run(states: string[], intervalMs: number, waitAtMostMs = Infinity, firstDelayMs?: number) {
  const waits: number[] = [];
  const steps: Omit<PollStep<{ state: string }>, "now" | "startedAt">[] = [];
  let next = 0;
  const result = await pollUntil(
    { intervalMs, firstDelayMs, sleep: async (ms) => void waits.push(ms) },
    async () => ({ state: states[next++] }),
    ({ attempt, tries, changed }) => {
      steps.push({ attempt, tries, changed });
      return tries === states.length ? { done: `after ${tries}` } : { waitAtMostMs };
    },
  );
  return { result, waits, steps };
}

describe("pollUntil", () => {
  it("starts at 50 ms and grows each wait by a tenth, up to the interval", async () => {
    const { waits } = await run(["a", "a", "a", "a", "a", "a"], 60);
    assert.deepEqual(
      waits.map((ms) => Math.round(ms * 100) / 100),
      [firstPollDelayMs, 55, 60, 60, 60],
    );
  });

  it("starts over fast when what a try sees changes, and says so to the judge", async () => {
    const { waits, steps } = await run(["a", "a", "a", "b", "b"], 1000);
    assert.deepEqual(
      waits.map((ms) => Math.round(ms * 100) / 100),
      [50, 55, 60.5, 50],
    );
    assert.deepEqual(
      steps.map((step) => step.changed),
      [true, false, false, true, false],
    );
    assert.deepEqual(
      steps.map((step) => step.tries),
      [1, 2, 3, 4, 5],
    );
  });

  it("never waits longer than the judge allows, nor less than nothing", async () => {
    assert.deepEqual((await run(["a", "a", "a"], 1000, 7)).waits, [7, 7]);
    assert.deepEqual((await run(["a", "a"], 1000, -5)).waits, [0]);
  });

  it("waits the interval every time when the first wait is the interval too", async () => {
    assert.deepEqual((await run(["a", "b", "b", "c"], 5000, Infinity, 5000)).waits, [5000, 5000, 5000]);
  });

  it("keeps every wait within a short interval", async () => {
    assert.deepEqual((await run(["a", "a", "a"], 20)).waits, [20, 20]);
  });

  it("resolves with what the judge finished with, and rejects with what it threw", async () => {
    assert.equal((await run(["a", "b", "c"], 100)).result, "after 3");
    await assert.rejects(
      pollUntil(
        { intervalMs: 10, sleep: async () => {} },
        async () => ({ state: "x" }),
        ({ tries }) => {
          if (tries === 2) throw new Error("gave up on try 2");
          return { waitAtMostMs: 0 };
        },
      ),
      /gave up on try 2/,
    );
  });

  it("counts time from the caller's start", async () => {
    let seen: number | undefined;
    await pollUntil(
      { intervalMs: 10, startedAt: 42 },
      async () => ({ state: "x" }),
      ({ startedAt }) => {
        seen = startedAt;
        return { done: true };
      },
    );
    assert.equal(seen, 42);
  });
});
