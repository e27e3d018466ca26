import assert from "node:assert/strict";
import {
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
      "switchyard_production_20261123T101502.123Z_2026-11-20-041.dump",
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
    assert.throws(() => snapshotsToPrune(owner, tenSnapshots, 2.5, tenSnapshots[9]), /retention/);
    assert.throws(() => snapshotsToPrune(owner, tenSnapshots, 7, "notes.txt"), /justTaken: "notes.txt"/);
  });

  it("lists the owner's snapshots newest first", () => {
    const listed = ownSnapshots(owner, [...foreign, tenSnapshots[3], tenSnapshots[8], tenSnapshots[5]]);
    assert.deepEqual(
      listed.map((s) => s.fileName),
      [tenSnapshots[8], tenSnapshots[5], tenSnapshots[3]],
    );
  });
});
