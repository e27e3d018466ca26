/** Files the engine puts in place: whole or not at all. */
import * as fs from "node:fs";
import * as path from "node:path";

/** Copies a built file to `target` (atomically, executable) unless it is there already; true if it copied. */
export function installFile(file: string, target: string): boolean {
  if (fs.existsSync(target) && sameContent(file, target)) return false;
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.copyFileSync(file, `${target}.partial`);
  fs.chmodSync(`${target}.partial`, 0o755);
  fs.renameSync(`${target}.partial`, target);
  return true;
}

export function sameContent(a: string, b: string): boolean {
  const [statA, statB] = [fs.statSync(a), fs.statSync(b)];
  return statA.size === statB.size && fs.readFileSync(a).equals(fs.readFileSync(b));
}
