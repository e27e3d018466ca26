/**
 * What one production release changes in the stack's config, decided from the stack's own state:
 * the idle slot is the one the deployed stack does not serve. Pure: `bin/release.ts` reads the
 * state, and the workflows call that, so what the pipeline does is what the tests run.
 */
import { type SlotColour, slotColours } from "../infra/stackKeys";

export interface ReleaseRequest {
  /** `activeSlot` in the stack's config. */
  configured: string;
  /** `activeSlot` the stack outputs (what serves), or undefined before the first deploy. */
  deployed?: string;
  /** The idle slot's new image, by digest or immutable tag; "" or undefined keeps its image. */
  image?: string;
  /** The version that image reports. */
  version?: string;
  /** Move traffic to the idle slot once it is healthy (with no image, a rollback). */
  switchTraffic: boolean;
}

export interface ReleasePlan {
  idle: SlotColour;
  /** `pulumi config set --path <key> <value>`, in order. */
  settings: [key: string, value: string][];
  /** The update's message, for `pulumi up --message`. */
  message: string;
}

function isColour(value: string | undefined): value is SlotColour {
  return slotColours.includes(value as SlotColour);
}

/** The plan, or every reason the request cannot be released. */
export function planRelease(request: ReleaseRequest): ReleasePlan | { problems: string[] } {
  const problems: string[] = [];
  const { configured, image = "", version = "", switchTraffic } = request;
  const deployed = request.deployed ?? configured;
  if (!isColour(configured)) problems.push(`activeSlot must be blue or green in the stack's config`);
  else if (deployed !== configured)
    problems.push(
      `the stack file says activeSlot=${configured} but the stack serves ${deployed}: commit the last release's config first`,
    );
  if (image !== "" && version === "") problems.push("an image needs the version it reports (--version)");
  if (image === "" && version !== "") problems.push("a version needs the image that reports it (--image)");
  if (image === "" && !switchTraffic) problems.push("nothing to release: give an image, or --switch");
  if (problems.length > 0 || !isColour(configured)) return { problems };

  const idle = slotColours.find((colour) => colour !== configured) as SlotColour;
  const settings: [string, string][] = [];
  if (image !== "") settings.push([`slots.${idle}.image`, image], [`slots.${idle}.version`, version]);
  if (switchTraffic) settings.push(["activeSlot", idle]);
  const released = image === "" ? `${idle} keeps its image` : `${idle} ${image} (${version})`;
  return { idle, settings, message: `${released}${switchTraffic ? `, traffic to ${idle}` : ""}` };
}
