import assert from "node:assert/strict";
import fc from "fast-check";
import {
  ownerProblems,
  ownSnapshots,
  parseSnapshotFileName,
  snapshotFileName,
  snapshotLabel,
  snapshotStamp,
  snapshotsToPrune,
} from "../../components/providers/snapshotFiles";

const owner = { project: "switchyard", stack: "production" };
const at = (iso: string) => new Date(iso);

describe("snapshot file names", () => {
  it("names a snapshot by project, stack, UTC stamp and label", () => {
    assert.equal(
      snapshotFileName(owner, at("2026-11-23T10:15:02.123Z"), "2026-11-20-041"),
      "switchyard+production+20261123T101502.123Z+2026-11-20-041.dump",
    );
  });

  it("reads the names written before, `<project>_<stack>_<stamp>_<label>.dump`, for owners without `_`", () => {
    const legacy = "switchyard_production_20261123T101502.123Z_2026-11-20-041.dump";
    assert.equal(parseSnapshotFileName(owner, legacy)?.label, "2026-11-20-041");
    assert.deepEqual(
      ownSnapshots(owner, [legacy, snapshotFileName(owner, at("2026-11-24T00:00:00.000Z"), "003")]).map(
        (s) => s.label,
      ),
      ["003", "2026-11-20-041"],
    );
  });

  it("uses UTC whatever the date's zone was written in", () => {
    assert.equal(snapshotStamp(at("2026-11-23T23:30:00.000-02:00")), "20261124T013000.000Z");
  });

  it("sanitizes the label to characters a file name carries unquoted", () => {
    assert.equal(snapshotLabel("2026-11-20-041"), "2026-11-20-041");
    assert.equal(snapshotLabel("v2.15.0+build.7"), "v2.15.0+build.7");
    assert.equal(snapshotLabel("../../etc/passwd"), "etc-passwd");
    assert.equal(snapshotLabel("a b_c/d\ne"), "a-b-c-d-e");
    assert.equal(snapshotLabel("___"), "snapshot");
    assert.equal(snapshotLabel(""), "snapshot");
    const long = snapshotLabel("x".repeat(200));
    assert.equal(long.length, 64);
    assert.equal(snapshotLabel(`${"y".repeat(63)}-z`), "y".repeat(63));
    assert.equal(snapshotLabel("add users / drop legacy"), "add-users-drop-legacy");
    assert.equal(snapshotLabel("v2.0 (rc)"), "v2.0-rc");
    assert.equal(snapshotLabel(`${"y".repeat(62)}-.z`), "y".repeat(62));
    assert.equal(snapshotLabel("-.+1"), "1");
  });

  it("makes of any trigger a label that names parse back, and leaves a clean one as it is", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 100 }), (trigger) => {
        const label = snapshotLabel(trigger);
        assert.match(label, /^[A-Za-z0-9]([A-Za-z0-9.+-]{0,62}[A-Za-z0-9])?$/);
        assert.equal(snapshotLabel(label), label);
      }),
    );
  });

  it("accepts project and stack names as Pulumi allows them, up to 100 characters", () => {
    for (const name of ["a", "9lives", "My.Project_v2-eu", "x".repeat(100)]) {
      assert.deepEqual(ownerProblems({ project: name, stack: name }), [], name);
    }
  });

  it("names each project or stack name that could not be parsed back, and what it was", () => {
    const reason = (got: string) =>
      `expected letters, digits, '.', '_' or '-' (at most 100, starting with a letter or digit), got ${got}`;
    const bad: [unknown, string][] = [
      ["", '""'],
      ["a/b", '"a/b"'],
      ["my project", '"my project"'],
      ["-dev", '"-dev"'],
      [".hidden", '".hidden"'],
      ["x".repeat(101), `"${"x".repeat(101)}"`],
      [5, "5"],
      [["production"], '["production"]'],
      [undefined, "undefined"],
    ];
    for (const [name, got] of bad) {
      const named = name as string;
      assert.deepEqual(ownerProblems({ project: named, stack: "dev" }), [
        { property: "project", reason: reason(got) },
      ]);
      assert.deepEqual(ownerProblems({ project: "p", stack: named }), [
        { property: "stack", reason: reason(got) },
      ]);
    }
    assert.deepEqual(
      ownerProblems({ project: "a b", stack: "c/d" }).map((p) => p.property),
      ["project", "stack"],
    );
  });

  it("refuses project or stack names that cannot be parsed back, naming the key", () => {
    assert.throws(
      () => snapshotFileName({ project: "a/b", stack: "dev" }, new Date(), "x"),
      /^Error: project: /,
    );
    assert.throws(() => snapshotFileName({ project: "p", stack: "" }, new Date(), "x"), /^Error: stack: /);
    assert.throws(() => snapshotFileName(owner, new Date(Number.NaN), "x"), /takenAt/);
  });

  it("sorts by time: later snapshots have greater names", () => {
    const times = ["2026-01-02T00:00:00.000Z", "2026-01-10T00:00:00.000Z", "2026-10-01T09:59:59.999Z"];
    const names = times.map((t) => snapshotFileName(owner, at(t), "002"));
    assert.deepEqual([...names].sort(), names);
  });

  it("parses its own names back", () => {
    const name = snapshotFileName(owner, at("2026-11-23T10:15:02.123Z"), "2026-11-20-041");
    assert.deepEqual(parseSnapshotFileName(owner, name), {
      fileName: name,
      owner,
      takenAt: at("2026-11-23T10:15:02.123Z"),
      label: "2026-11-20-041",
    });
  });

  it("recognizes only the owner's snapshots", () => {
    const stamp = "20261123T101502.123Z";
    const foreign = [
      `switchyard_stage_${stamp}_002.dump`, // another stack
      `other_production_${stamp}_002.dump`, // another project
      `switchyard_production_${stamp}_002.dump.gz`, // not a dump
      `.switchyard_production_${stamp}_002.dump.partial`, // a partial
      `switchyard_production_20261323T101502.123Z_002.dump`, // month 13
      `switchyard_production_${stamp}_.dump`, // empty label
      `switchyard_production_${stamp}_a_b.dump`, // label with an underscore
      "switchyard_production_latest.dump",
      "backup-2026-11-23.sql.gz",
    ];
    for (const name of foreign) assert.equal(parseSnapshotFileName(owner, name), undefined, name);
  });

  it("parses back any name it makes, for any owner, instant and trigger", () => {
    const part = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/);
    const instant = fc.date({
      min: new Date("0000-01-01T00:00:00.000Z"),
      max: new Date("9999-12-31T23:59:59.999Z"),
      noInvalidDate: true,
    });
    fc.assert(
      fc.property(part, part, instant, fc.string(), (project, stack, takenAt, trigger) => {
        const who = { project, stack };
        const fileName = snapshotFileName(who, takenAt, trigger);
        assert.deepEqual(parseSnapshotFileName(who, fileName), {
          fileName,
          owner: who,
          takenAt,
          label: snapshotLabel(trigger),
        });
      }),
    );
  });

  it("never takes a calendar date or time that does not exist", () => {
    const impossible = [
      "20260230T101502.123Z", // February 30
      "20260229T101502.123Z", // February 29 of a common year
      "20260431T101502.123Z", // April 31
      "20261301T101502.123Z", // month 13
      "20260001T101502.123Z", // month 0
      "20260100T101502.123Z", // day 0
      "20260101T240000.000Z", // hour 24
      "20260101T236000.000Z", // minute 60
      "20260101T235960.000Z", // second 60
    ];
    for (const stamp of impossible) {
      assert.equal(parseSnapshotFileName(owner, `switchyard_production_${stamp}_002.dump`), undefined, stamp);
    }
    assert.deepEqual(
      parseSnapshotFileName(owner, "switchyard_production_20240229T235959.999Z_002.dump")?.takenAt,
      at("2024-02-29T23:59:59.999Z"),
    );
  });

  it("takes only stamps written exactly as it writes them", () => {
    const misshapen = [
      "20261123T101502Z",
      "20261123T101502.12Z",
      "20261123T101502.1234Z",
      "2026-11-23T10:15:02.123Z",
      "20261123t101502.123z",
      "20261123T101502.123",
      "20261123 101502.123Z",
      "x20261123T101502.123Z",
      "20261123T101502.123Zx",
      "+0202611230T101502.123Z",
    ];
    for (const stamp of misshapen) {
      assert.equal(parseSnapshotFileName(owner, `switchyard_production_${stamp}_002.dump`), undefined, stamp);
    }
  });

  it("takes only labels it could have written", () => {
    const stamp = "20261123T101502.123Z";
    for (const label of ["-002", ".002", "+1", "a b", "x".repeat(65)]) {
      assert.equal(
        parseSnapshotFileName(owner, `switchyard_production_${stamp}_${label}.dump`),
        undefined,
        label,
      );
    }
    const longest = `switchyard_production_${stamp}_${"x".repeat(64)}.dump`;
    assert.equal(parseSnapshotFileName(owner, longest)?.label, "x".repeat(64));
    // Without the separator, what follows the stamp is no label.
    assert.equal(parseSnapshotFileName(owner, `switchyard_production_${stamp}5.dump`), undefined);
  });

  it("tells apart stacks whose names have the same length", () => {
    const us = { project: "switchyard", stack: "prod-us" };
    const eu = { project: "switchyard", stack: "prod-eu" };
    const name = snapshotFileName(eu, at("2026-11-23T10:15:02.123Z"), "002");
    assert.equal(parseSnapshotFileName(us, name), undefined);
    assert.equal(parseSnapshotFileName({ project: "switchyarc", stack: "prod-eu" }, name), undefined);
    assert.equal(parseSnapshotFileName(eu, name)?.label, "002");
  });

  it("never takes another owner's snapshot, whatever the names hold", () => {
    const part = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,12}$/);
    const someOwner = fc.record({ project: part, stack: part });
    fc.assert(
      fc.property(someOwner, someOwner, (ours, theirs) => {
        fc.pre(ours.project !== theirs.project || ours.stack !== theirs.stack);
        const name = snapshotFileName(theirs, at("2026-11-23T10:15:02.123Z"), "002");
        assert.equal(parseSnapshotFileName(ours, name), undefined);
        const legacy = `${theirs.project}_${theirs.stack}_20261123T101502.123Z_002.dump`;
        assert.equal(parseSnapshotFileName(ours, legacy), undefined, legacy);
      }),
    );
  });

  it("keeps shop/eu_prod's retention off shop_eu/prod's dumps in a shared directory, and the other way", () => {
    const a = { project: "shop", stack: "eu_prod" };
    const b = { project: "shop_eu", stack: "prod" };
    const files = (who: typeof a) =>
      Array.from({ length: 4 }, (_, day) =>
        snapshotFileName(who, at(`2026-11-0${day + 1}T03:00:00.000Z`), "1"),
      );
    // Their names before this format were the same: shop_eu_prod_<stamp>_1.dump.
    const legacy = "shop_eu_prod_20261020T030000.000Z_1.dump";
    const directory = [...files(a), ...files(b), legacy];
    for (const [ours, theirs] of [
      [a, b],
      [b, a],
    ]) {
      const justTaken = files(ours)[3];
      const pruned = snapshotsToPrune(ours, directory, 2, justTaken);
      assert.deepEqual(pruned.sort(), files(ours).slice(0, 2).sort());
      assert.ok(!pruned.some((name) => files(theirs).includes(name) || name === legacy));
    }
  });

  it("tells a stack from another whose name extends it", () => {
    const short = { project: "switchyard", stack: "prod" };
    const long = snapshotFileName({ project: "switchyard", stack: "prod_eu" }, new Date(), "1");
    assert.equal(parseSnapshotFileName(short, long), undefined);
  });
});

describe("snapshot retention", () => {
  const tenSnapshots = Array.from({ length: 10 }, (_, day) =>
    snapshotFileName(owner, at(`2026-11-${String(day + 1).padStart(2, "0")}T03:00:00.000Z`), `00${day}`),
  );
  const foreign = [
    "notes.txt",
    snapshotFileName({ project: "switchyard", stack: "stage" }, at("2026-01-01T00:00:00.000Z"), "1"),
    `.${tenSnapshots[0]}.partial`,
    "switchyard_production_old.dump",
  ];

  it("keeps the newest N and prunes the rest, oldest included", () => {
    const justTaken = tenSnapshots[9];
    const pruned = snapshotsToPrune(owner, [...foreign, ...tenSnapshots].reverse(), 7, justTaken);
    assert.deepEqual(pruned.sort(), tenSnapshots.slice(0, 3));
  });

  it("never prunes foreign files, whatever their age", () => {
    const pruned = snapshotsToPrune(owner, [...tenSnapshots, ...foreign], 1, tenSnapshots[9]);
    for (const name of foreign) assert.ok(!pruned.includes(name), name);
    assert.equal(pruned.length, 9);
  });

  it("never prunes the snapshot just taken, even when its clock made it the oldest", () => {
    const skewed = snapshotFileName(owner, at("2020-01-01T00:00:00.000Z"), "009");
    const pruned = snapshotsToPrune(owner, [...tenSnapshots, skewed], 3, skewed);
    assert.ok(!pruned.includes(skewed));
    // It counts as one of the three kept: the two newest others stay.
    assert.deepEqual(pruned.sort(), tenSnapshots.slice(0, 8));
  });

  it("prunes nothing while there are no more than N", () => {
    assert.deepEqual(snapshotsToPrune(owner, tenSnapshots.slice(0, 7), 7, tenSnapshots[6]), []);
    assert.deepEqual(snapshotsToPrune(owner, [tenSnapshots[0]], 1, tenSnapshots[0]), []);
  });

  it("refuses a retention below one and a just-taken name that is not the owner's", () => {
    assert.throws(() => snapshotsToPrune(owner, tenSnapshots, 0, tenSnapshots[9]), /retention: .* got 0/);
    for (const keep of [-1, 2.5, Number.NaN, Infinity]) {
      assert.throws(() => snapshotsToPrune(owner, tenSnapshots, keep, tenSnapshots[9]), {
        message: `retention: expected a whole number >= 1, got ${keep}`,
      });
    }
    assert.throws(() => snapshotsToPrune(owner, tenSnapshots, 7, "notes.txt"), {
      message: 'justTaken: "notes.txt" is not a snapshot of switchyard/production',
    });
    assert.throws(() => snapshotsToPrune(owner, tenSnapshots, 7, foreign[1]), /^Error: justTaken: /);
  });

  it("keeps exactly N at the boundaries: one, one fewer than there are, as many, more", () => {
    const justTaken = tenSnapshots[9];
    const prune = (keep: number) => snapshotsToPrune(owner, tenSnapshots, keep, justTaken).sort();
    assert.deepEqual(prune(1), tenSnapshots.slice(0, 9));
    assert.deepEqual(prune(9), [tenSnapshots[0]]);
    assert.deepEqual(prune(10), []);
    assert.deepEqual(prune(11), []);
  });

  it("counts the snapshot just taken as kept even before a listing shows it", () => {
    const justTaken = snapshotFileName(owner, at("2026-12-01T03:00:00.000Z"), "010");
    assert.deepEqual(snapshotsToPrune(owner, tenSnapshots, 3, justTaken).sort(), tenSnapshots.slice(0, 8));
  });

  it("prunes only the owner's oldest, keeping the newest N, for any listing", () => {
    const instant = fc.date({
      min: new Date("2020-01-01T00:00:00.000Z"),
      max: new Date("2030-01-01T00:00:00.000Z"),
      noInvalidDate: true,
    });
    const listing = fc.uniqueArray(instant, { minLength: 1, maxLength: 15, selector: (d) => d.getTime() });
    fc.assert(
      fc.property(listing, fc.integer({ min: 1, max: 16 }), fc.nat(), (instants, keep, pick) => {
        const own = instants.map((instant) => snapshotFileName(owner, instant, "002"));
        const justTaken = own[pick % own.length];
        const pruned = snapshotsToPrune(owner, [...foreign, ...own], keep, justTaken);
        const kept = own.filter((name) => !pruned.includes(name));
        assert.equal(pruned.length, Math.max(0, own.length - keep));
        assert.ok(kept.includes(justTaken));
        for (const name of pruned) {
          assert.ok(own.includes(name), name);
          for (const other of kept)
            assert.ok(other === justTaken || other > name, `${name} pruned, ${other} kept`);
        }
      }),
    );
  });

  it("lists the owner's snapshots newest first, whatever order the directory gives", () => {
    fc.assert(
      fc.property(fc.shuffledSubarray([...tenSnapshots, ...foreign]), (names) => {
        const expected = tenSnapshots.filter((name) => names.includes(name)).reverse();
        assert.deepEqual(
          ownSnapshots(owner, names).map((s) => s.fileName),
          expected,
        );
      }),
    );
  });

  it("lists the owner's snapshots newest first", () => {
    const listed = ownSnapshots(owner, [...foreign, tenSnapshots[3], tenSnapshots[8], tenSnapshots[5]]);
    assert.deepEqual(
      listed.map((s) => s.fileName),
      [tenSnapshots[8], tenSnapshots[5], tenSnapshots[3]],
    );
  });
});
