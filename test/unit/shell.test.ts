import { strict as assert } from "node:assert";
import { capture } from "../../engine/shell";

describe("engine shell: capture", () => {
  it("reports a program that exits before reading its input by its exit code, without a broken pipe error", async () => {
    // More than a pipe buffer, so the write is still going when the program has exited.
    const input = "x".repeat(4 * 1024 * 1024);
    for (let run = 0; run < 5; run++) {
      const result = await capture(["sh", "-c", "exit 3"], { input });
      assert.equal(result.code, 3);
    }
  });

  it("reports a program that does not exist as exit code 127 with the reason", async () => {
    const result = await capture(["/nonexistent/program"], { input: "x".repeat(1024 * 1024) });
    assert.equal(result.code, 127);
    assert.match(result.stderr, /ENOENT/);
  });
});
