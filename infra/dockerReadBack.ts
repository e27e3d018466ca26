/**
 * Values as the Docker provider reads them back from Docker. Every input that Docker normalises
 * must be sent in this spelling: the provider compares the program's value with the one it read,
 * so `"1"` against `"1.0"` is a change, and for a field that forces replacement (`cpus`, the
 * healthcheck) a replaced container on every `pulumi up`. Pure: the config schema uses it too.
 */

/**
 * A CPU limit spelled as the Docker provider reads it back (its `nanoInt64ToDecimalString`, which
 * official and upstream share): nano-CPUs with nine decimals, then — when that text holds exactly
 * nine zeros — rounded to one decimal, else stripped of trailing zeros. So `1` is `"1.0"`, `10` is
 * `"10."` and `0.05` is `"0.1"`; the config refuses limits that do not survive this (`cpusKept`).
 */
export function dockerCpus(cpus: number): string {
  const nanoCpus = Math.round(cpus * 1e9);
  if (nanoCpus === 0) return "0";
  const nine = `${Math.floor(nanoCpus / 1e9)}.${String(nanoCpus % 1e9).padStart(9, "0")}`;
  if (nine.split("0").length - 1 === 9) {
    const tenths = Math.round(nanoCpus / 1e8);
    return `${Math.floor(tenths / 10)}.${tenths % 10}`;
  }
  return nine.replace(/0+$/, "");
}

/** Whether Docker runs `cpus` as given: the provider's spelling of it means the same number. */
export function cpusKept(cpus: number): boolean {
  return Number(dockerCpus(cpus)) === Math.round(cpus * 1e9) / 1e9;
}

/**
 * A duration as Docker reports it back (Go's `time.Duration`): `5s`, `1m30s`, `1h0m0s`, `500ms`.
 * A healthcheck that differs from it only in spelling would replace the container on every update.
 */
export function dockerDuration(seconds: number): string {
  const totalMs = Math.round(seconds * 1000);
  if (totalMs === 0) return "0s";
  if (totalMs < 1000) return `${totalMs}ms`;
  const hours = Math.floor(totalMs / 3_600_000);
  const minutes = Math.floor((totalMs % 3_600_000) / 60_000);
  const restMs = totalMs % 60_000;
  const secondsText = `${Math.floor(restMs / 1000)}${
    restMs % 1000 === 0
      ? ""
      : `.${String(restMs % 1000)
          .padStart(3, "0")
          .replace(/0+$/, "")}`
  }s`;
  if (hours > 0) return `${hours}h${minutes}m${secondsText}`;
  if (minutes > 0) return `${minutes}m${secondsText}`;
  return secondsText;
}
