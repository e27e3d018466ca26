/**
 * Names of database snapshot files, and which of them retention removes. Pure: the provider
 * and the `snapshot` command decide with these functions and only then touch the target.
 *
 * A snapshot is `<project>+<stack>+<UTC stamp>+<label>.dump`, e.g.
 * `switchyard+production+20261123T101502.123Z+2026-11-20-041.dump`. No project or stack name can
 * hold a `+`, so no owner's names start like another's, and one stack's retention never takes
 * another's files from a shared directory. The stamp is fixed-width, so names of one stack sort
 * by time; the label says which migration set the snapshot preceded.
 *
 * Names written before were `<project>_<stack>_<UTC stamp>_<label>.dump`. Two owners can share
 * that prefix when a name holds `_` (`shop` + `eu_prod` and `shop_eu` + `prod`), so those are read
 * (listed, restored, pruned) only for owners whose names hold none, which no other owner can match.
 */

import { type InputProblem, throwIfProblems } from "./inputs";

/** Whose snapshots these are: a directory may hold several stacks' files, and anything else. */
export interface SnapshotOwner {
  project: string;
  stack: string;
}

export interface SnapshotName {
  fileName: string;
  owner: SnapshotOwner;
  takenAt: Date;
  /** The label as it appears in the name (sanitized). */
  label: string;
}

export const snapshotExtension = ".dump";

/** Project and stack names as Pulumi allows them. */
const ownerPart = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
/** Between the parts of a name: not a character of project or stack names. */
const separator = "+";
const legacySeparator = "_";
const labelPattern = /^[A-Za-z0-9][A-Za-z0-9.+-]{0,63}$/;
const maxLabelLength = 64;
/** What keeps project and stack from being part of a file name that parses back; empty when nothing. */
export function ownerProblems(owner: SnapshotOwner): InputProblem[] {
  return (["project", "stack"] as const)
    .filter((key) => typeof owner[key] !== "string" || !ownerPart.test(owner[key]))
    .map((key) => ({
      property: key,
      reason: `expected letters, digits, '.', '_' or '-' (at most 100, starting with a letter or digit), got ${JSON.stringify(owner[key])}`,
    }));
}

/**
 * The label for a trigger such as a migration-set version: characters a file name can carry
 * without quoting (letters, digits, `.`, `+`, `-`), runs of anything else as one `-`, at most
 * 64 characters. A trigger with nothing usable becomes `snapshot`.
 */
export function snapshotLabel(trigger: string): string {
  const label = trigger
    .replace(/[^A-Za-z0-9.+-]+/g, "-")
    .replace(/^[^A-Za-z0-9]+/, "")
    .slice(0, maxLabelLength)
    .replace(/[^A-Za-z0-9]+$/, "");
  return label === "" ? "snapshot" : label;
}

/** `20261123T101502.123Z`: ISO 8601 basic format, UTC, millisecond precision. */
export function snapshotStamp(takenAt: Date): string {
  if (Number.isNaN(takenAt.getTime())) throw new Error("takenAt: not a valid date");
  return takenAt.toISOString().replace(/[-:]/g, "");
}

/** The instant a stamp denotes, when it is exactly what `snapshotStamp` writes for that instant. */
function parseStamp(stamp: string): Date | undefined {
  const iso = `${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}T${stamp.slice(9, 11)}:${stamp.slice(11, 13)}:${stamp.slice(13)}`;
  const date = new Date(iso);
  // Writing the date back rejects any other shape, and calendar nonsense such as February 30,
  // which Date rolls over silently.
  return !Number.isNaN(date.getTime()) && snapshotStamp(date) === stamp ? date : undefined;
}

/** What every snapshot name of `owner` starts with. */
export function snapshotPrefix(owner: SnapshotOwner): string {
  return `${owner.project}${separator}${owner.stack}${separator}`;
}

/** How the owner's snapshot names look, for messages. */
export function snapshotNameShape(owner: SnapshotOwner): string {
  return `${snapshotPrefix(owner)}<UTC stamp>${separator}<label>${snapshotExtension}`;
}

export function snapshotFileName(owner: SnapshotOwner, takenAt: Date, trigger: string): string {
  throwIfProblems(ownerProblems(owner));
  return `${snapshotPrefix(owner)}${snapshotStamp(takenAt)}${separator}${snapshotLabel(trigger)}${snapshotExtension}`;
}

/** The owner's snapshot this name denotes, or undefined for any other file (another stack's, a partial, a stranger's). */
export function parseSnapshotFileName(owner: SnapshotOwner, fileName: string): SnapshotName | undefined {
  const current = parseAfter(owner, fileName, snapshotPrefix(owner), separator);
  if (current || [owner.project, owner.stack].some((part) => part.includes(legacySeparator))) return current;
  return parseAfter(owner, fileName, `${owner.project}_${owner.stack}_`, legacySeparator);
}

function parseAfter(
  owner: SnapshotOwner,
  fileName: string,
  prefix: string,
  between: string,
): SnapshotName | undefined {
  if (!fileName.startsWith(prefix) || !fileName.endsWith(snapshotExtension)) return undefined;
  const rest = fileName.slice(prefix.length, -snapshotExtension.length);
  const end = rest.indexOf(between);
  if (end === -1) return undefined;
  const takenAt = parseStamp(rest.slice(0, end));
  const label = rest.slice(end + 1);
  if (!takenAt || !labelPattern.test(label)) return undefined;
  return { fileName, owner: { ...owner }, takenAt, label };
}

/** The owner's snapshots among `fileNames`, newest first. */
export function ownSnapshots(owner: SnapshotOwner, fileNames: Iterable<string>): SnapshotName[] {
  const own: SnapshotName[] = [];
  for (const fileName of fileNames) {
    const parsed = parseSnapshotFileName(owner, fileName);
    if (parsed) own.push(parsed);
  }
  // By time, across both name formats; ties still order deterministically.
  const byName = (a: SnapshotName, b: SnapshotName) =>
    a.fileName < b.fileName ? 1 : a.fileName > b.fileName ? -1 : 0;
  return own.sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime() || byName(a, b));
}

/**
 * The files retention removes: the owner's snapshots beyond the newest `keep`. The snapshot
 * just taken is never among them (even if a skewed clock makes it look old: it then counts
 * as one of the kept), and files not named like the owner's snapshots are never touched.
 */
export function snapshotsToPrune(
  owner: SnapshotOwner,
  fileNames: Iterable<string>,
  keep: number,
  justTaken: string,
): string[] {
  if (!Number.isInteger(keep) || keep < 1)
    throw new Error(`retention: expected a whole number >= 1, got ${keep}`);
  if (!parseSnapshotFileName(owner, justTaken)) {
    throw new Error(
      `justTaken: ${JSON.stringify(justTaken)} is not a snapshot of ${owner.project}/${owner.stack}`,
    );
  }
  const others = ownSnapshots(owner, fileNames).filter((snapshot) => snapshot.fileName !== justTaken);
  return others.slice(keep - 1).map((snapshot) => snapshot.fileName);
}
