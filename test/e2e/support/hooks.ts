/** The tier's root hooks: before any suite, what an interrupted run left goes (interruptedRuns.ts). */
import { removeInterruptedStacks } from "./interruptedRuns";

export const mochaHooks = {
  async beforeAll(): Promise<void> {
    await removeInterruptedStacks();
  },
};
