/**
 * The config reference in the README, read off the schema itself so the two cannot drift:
 * one row per key with its type, bounds, default and description.
 */
import type { z } from "zod";
import { PROJECT, secretKeys, stackConfigSchema } from "./config";

export interface ConfigKeyDoc {
  /** Key path below `switchyard:`, `[]` marking list elements (`health.smokeChecks[].path`). */
  key: string;
  type: string;
  default?: string;
  description?: string;
  secret: boolean;
}

type AnySchema = z.core.$ZodType;

interface Unwrapped {
  schema: AnySchema;
  description?: string;
  defaultValue?: unknown;
  optional: boolean;
}

/** Peels prefault/default/optional/nullable wrappers, keeping the outermost description. */
function unwrap(schema: AnySchema): Unwrapped {
  const found: Unwrapped = { schema, optional: false };
  let current = schema;
  for (;;) {
    found.description ??= (current as z.ZodType).description;
    const def = current._zod.def as { type: string; innerType?: AnySchema; defaultValue?: unknown };
    if (def.type === "prefault" || def.type === "default") found.defaultValue ??= def.defaultValue;
    if (def.type === "optional") found.optional = true;
    if (!def.innerType) break;
    current = def.innerType;
  }
  found.schema = current;
  return found;
}

function describeType(schema: AnySchema, nullable: boolean): string {
  const def = schema._zod.def as {
    type: string;
    format?: string;
    entries?: Record<string, unknown>;
    checks?: z.core.$ZodCheck[];
    valueType?: AnySchema;
  };
  let type: string;
  switch (def.type) {
    case "number": {
      const kind = def.format === "safeint" ? "integer" : "number";
      const bounds = (def.checks ?? []).flatMap((check) => {
        const {
          check: name,
          value,
          inclusive,
        } = check._zod.def as { check: string; value: number; inclusive: boolean };
        if (name === "greater_than") return [inclusive ? `≥ ${value}` : `> ${value}`];
        if (name === "less_than") return [inclusive ? `≤ ${value}` : `< ${value}`];
        // A refinement's rule is in its message, not a bound.
        return [];
      });
      type = [kind, ...bounds].join(" ");
      break;
    }
    case "enum":
      type = Object.values(def.entries ?? {})
        .map((value) => JSON.stringify(value))
        .join(" \\| ");
      break;
    case "record":
      type = `map of name to ${def.valueType ? describeType(unwrap(def.valueType).schema, false) : "value"}`;
      break;
    case "array":
      type = "list";
      break;
    case "object":
      type = "object";
      break;
    default:
      type = def.type;
  }
  return nullable ? `${type} or null` : type;
}

function isNullable(schema: AnySchema): boolean {
  for (let current: AnySchema | undefined = schema; current;) {
    const def = current._zod.def as { type: string; innerType?: AnySchema };
    if (def.type === "nullable") return true;
    current = def.innerType;
  }
  return false;
}

function formatDefault(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "object" && value !== null && Object.keys(value).length === 0) return undefined;
  return JSON.stringify(value);
}

function walk(schema: AnySchema, key: string, rows: ConfigKeyDoc[]): void {
  const { schema: inner, description, defaultValue, optional } = unwrap(schema);
  const topLevel = key.split(/[.[]/)[0];
  rows.push({
    key,
    type: `${describeType(inner, isNullable(schema))}${optional ? " (optional)" : ""}`,
    default: formatDefault(defaultValue),
    description,
    secret: (secretKeys as readonly string[]).includes(topLevel),
  });
  const def = inner._zod.def as {
    type: string;
    shape?: Record<string, AnySchema>;
    element?: AnySchema;
    valueType?: AnySchema;
  };
  if (def.type === "object" && def.shape) {
    for (const [child, childSchema] of Object.entries(def.shape)) walk(childSchema, `${key}.${child}`, rows);
  }
  // The keys of a list's objects, and of a map's: `health.smokeChecks[].path`, `accessories.<name>.image`.
  if (def.type === "array" && def.element) walkMembers(def.element, `${key}[]`, rows);
  if (def.type === "record" && def.valueType) walkMembers(def.valueType, `${key}.<name>`, rows);
}

function walkMembers(member: AnySchema, prefix: string, rows: ConfigKeyDoc[]): void {
  const def = unwrap(member).schema._zod.def as { type: string; shape?: Record<string, AnySchema> };
  if (def.type !== "object" || !def.shape) return;
  for (const [child, childSchema] of Object.entries(def.shape)) walk(childSchema, `${prefix}.${child}`, rows);
}

export function configReference(): ConfigKeyDoc[] {
  const rows: ConfigKeyDoc[] = [];
  for (const [key, schema] of Object.entries(stackConfigSchema.shape)) walk(schema, key, rows);
  return rows;
}

/** Markdown table of every key, as it appears in the README. */
export function renderConfigReference(rows: ConfigKeyDoc[] = configReference()): string {
  const escapePipes = (text: string) => text.replace(/\|/g, "\\|");
  const lines = ["| key | type | default | description |", "|---|---|---|---|"];
  for (const row of rows) {
    const description = `${row.secret ? "**Secret.** " : ""}${row.description ?? ""}`;
    lines.push(
      `| \`${PROJECT}:${row.key}\` | ${row.type} | ${row.default ? `\`${escapePipes(row.default)}\`` : ""} | ${escapePipes(description)} |`,
    );
  }
  return lines.join("\n");
}

const begin = "<!-- config-reference:begin (generated by `npm run docs:config`) -->";
const end = "<!-- config-reference:end -->";

/** The document with its generated config reference section brought up to date. */
export function replaceConfigReference(document: string): string {
  const from = document.indexOf(begin);
  const to = document.indexOf(end);
  if (from < 0 || to < from) throw new Error(`the document has no ${begin} ... ${end} section`);
  return `${document.slice(0, from + begin.length)}\n${renderConfigReference()}\n${document.slice(to)}`;
}
