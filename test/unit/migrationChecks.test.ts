/**
 * Validated migrations: which values the snapshot reads before, how they become checks, and the
 * job's script run by a real bash with stand-ins for `docker run` and psql.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import fc from "fast-check";
import {
  type MigrationValidation,
  migrationChecks,
  queriesBefore,
  validatedMigrationArgv,
} from "../../components/MigrationJob";
import { run } from "../support/process";

const validations: MigrationValidation[] = [
  { name: "stories kept", query: "SELECT count(*) FROM stories", expect: "unchanged" },
  { name: "no orphan pages", query: "SELECT count(*) FROM pages WHERE story_id IS NULL", expect: "0" },
  { name: "pages kept", query: "SELECT count(*) FROM pages", expect: "unchanged" },
];

/** psql's stand-in (`-c <query>` follows it): answers from ANSWERS (JSON), fails on a query it does not know. */
const psql = [
  "node",
  "-e",
  'const a = JSON.parse(process.env.ANSWERS); const q = process.argv[2]; if (!(q in a)) process.exit(3); process.stdout.write(a[q] + "\\n")',
  "--",
];

function runJob(
  answers: Record<string, string>,
  options: { migrationExit?: number; valuesBefore?: string[] } = {},
) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-checks-"));
  const stdinSeen = path.join(dir, "stdin");
  const migration = ["sh", "-c", `cat > "$1"; exit ${options.migrationExit ?? 0}`, "sh", stdinSeen];
  const checks = migrationChecks(validations, options.valuesBefore ?? ["12", "40"]);
  const argv = validatedMigrationArgv(migration, psql, checks, "004");
  const job = spawnSync(argv[0], argv.slice(1), {
    env: { ...process.env, ANSWERS: JSON.stringify(answers) },
    input: "DATABASE_URL=postgres://secret\n",
    encoding: "utf8",
  });
  const result = { code: job.status, output: `${job.stdout}${job.stderr}` };
  const migrationStdin = fs.existsSync(stdinSeen) ? fs.readFileSync(stdinSeen, "utf8") : undefined;
  fs.rmSync(dir, { recursive: true, force: true });
  return { ...result, migrationStdin };
}

const good = {
  "SELECT count(*) FROM stories": "12",
  "SELECT count(*) FROM pages WHERE story_id IS NULL": "0",
  "SELECT count(*) FROM pages": "40",
};

describe("validated migrations", () => {
  it("reads the values of `unchanged` validations before, in order, and compares each with its own", () => {
    assert.deepEqual(queriesBefore(validations), [
      "SELECT count(*) FROM stories",
      "SELECT count(*) FROM pages",
    ]);
    assert.deepEqual(
      migrationChecks(validations, ["12", "40"]).map(({ name, expected, from }) => [name, expected, from]),
      [
        ["stories kept", "12", "before"],
        ["no orphan pages", "0", "config"],
        ["pages kept", "40", "before"],
      ],
    );
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            name: fc.string(),
            query: fc.string(),
            expect: fc.constantFrom("unchanged", "0", "x"),
          }),
        ),
        (any) => {
          const before = queriesBefore(any).map((query) => `value of ${query}`);
          for (const [index, check] of migrationChecks(any, before).entries())
            assert.equal(
              check.expected,
              any[index].expect === "unchanged" ? `value of ${any[index].query}` : any[index].expect,
            );
        },
      ),
    );
  });

  it("passes when every check holds, the migration having had standard input to itself", async () => {
    const job = runJob(good);
    assert.equal(job.code, 0, job.output);
    assert.equal(job.migrationStdin, "DATABASE_URL=postgres://secret\n");
  });

  it("fails after the migration ran, reporting every check that failed and what to do", async () => {
    const job = runJob({ ...good, "SELECT count(*) FROM stories": "11", "SELECT count(*) FROM pages": "39" });
    assert.equal(job.code, 1);
    assert.equal(job.migrationStdin, "DATABASE_URL=postgres://secret\n", "the migration ran");
    assert.match(
      job.output,
      /validation "stories kept" after migration set 004 failed: expected 12 \(its value before the migration\), got 11/,
    );
    assert.match(
      job.output,
      /validation "pages kept" after migration set 004 failed: expected 40 .*, got 39/,
    );
    assert.doesNotMatch(job.output, /no orphan pages/);
    assert.match(
      job.output,
      /traffic stays where it is\. Restore the snapshot taken before it \(npm run snapshot -- restore latest\)/,
    );
  });

  it("fails on a query that does not run, and never checks after a migration that failed", async () => {
    const { "SELECT count(*) FROM pages": _, ...withoutPages } = good;
    const broken = runJob(withoutPages);
    assert.equal(broken.code, 1);
    assert.match(broken.output, /validation "pages kept" after migration set 004: its query failed/);
    const failed = runJob(good, { migrationExit: 4 });
    assert.equal(failed.code, 4);
    assert.doesNotMatch(failed.output, /validation/);
  });

  it("runs no part of a name, query or value as shell", async () => {
    const marker = path.join(os.tmpdir(), `switchyard-injected-${process.pid}`);
    const hostile = `$(touch ${marker})'"\`touch ${marker}\``;
    const argv = validatedMigrationArgv(
      ["true"],
      ["true"],
      [{ name: hostile, query: hostile, expected: hostile, from: "config" }],
      hostile,
    );
    const job = await run(argv[0], argv.slice(1));
    assert.equal(job.code, 1);
    assert.ok(!fs.existsSync(marker), "nothing ran");
    assert.ok(job.output.includes(hostile), "the name and value are shown as they are");
  });
});
