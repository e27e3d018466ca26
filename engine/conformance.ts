/**
 * Is a provider plugin built here indistinguishable from the official one for a program written
 * against the official SDK? Both sides are brought to one shape — every resource, function, the
 * provider's own inputs and config, every named type, with each property's type, whether it is
 * required and whether it is secret — and the SDK's side must be found in the plugin's:
 *
 * - from the plugin: its Pulumi schema (`pulumi package get-schema <binary>`);
 * - from the SDK: what the npm package declares in its own files (`*.d.ts` for names, types and
 *   optionality; the `.js` beside each for tokens and secrets), read with the TypeScript parser.
 *
 * Additions in the plugin are allowed. A property the plugin requires but the SDK lets a program
 * omit, or one the SDK promises in every output but the plugin may leave out, is a difference.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import ts from "typescript";

export type TypeShape =
  | { kind: "string" | "number" | "boolean" | "any" | "asset" | "archive" }
  | { kind: "array" | "map"; of: TypeShape }
  /** A named type (an object or an enum), by its SDK name: `ContainerPort`, `config.RegistryAuth`. */
  | { kind: "ref"; name: string };

export interface PropertyShape {
  type: TypeShape;
  required: boolean;
  secret: boolean;
}

export type ObjectShape = Record<string, PropertyShape>;

export interface ResourceShape {
  inputs: ObjectShape;
  outputs: ObjectShape;
  state: ObjectShape;
}

export type NamedTypeShape = { kind: "object"; properties: ObjectShape } | { kind: "enum"; values: string[] };

export interface PackageShape {
  /** By type token: `docker:index/container:Container`. */
  resources: Record<string, ResourceShape>;
  functions: Record<string, { inputs: ObjectShape; outputs: ObjectShape }>;
  provider: ObjectShape;
  config: ObjectShape;
  /**
   * By SDK name. The schema has one shape per type; the SDK has an input and an output
   * declaration of each (`inputs.X`, `outputs.X`), checked against it separately.
   */
  types: { input: Record<string, NamedTypeShape>; output: Record<string, NamedTypeShape> };
}

// ---------------------------------------------------------------- the plugin's schema

interface SchemaType {
  type?: string;
  $ref?: string;
  items?: SchemaType;
  additionalProperties?: SchemaType;
  oneOf?: SchemaType[];
}
interface SchemaProperty extends SchemaType {
  secret?: boolean;
}
interface SchemaObject {
  properties?: Record<string, SchemaProperty>;
  required?: string[];
}
export interface PulumiSchema {
  name: string;
  config?: { variables?: Record<string, SchemaProperty>; defaults?: string[] };
  provider?: { inputProperties?: Record<string, SchemaProperty>; requiredInputs?: string[] };
  resources?: Record<
    string,
    SchemaObject & {
      inputProperties?: Record<string, SchemaProperty>;
      requiredInputs?: string[];
      stateInputs?: SchemaObject;
    }
  >;
  functions?: Record<string, { inputs?: SchemaObject; outputs?: SchemaObject }>;
  types?: Record<
    string,
    SchemaObject & {
      type?: string;
      enum?: { value: unknown }[];
      /** Properties an output of this type always has, where that differs from `required`. */
      language?: { nodejs?: { requiredOutputs?: string[] } };
    }
  >;
}

/**
 * The name the SDK gives a schema type: `docker:index/ContainerPort:ContainerPort` -> `ContainerPort`,
 * `docker:index/getNetworkContainer:getNetworkContainer` -> `GetNetworkContainer`,
 * `docker:config/registryAuth:registryAuth` -> `config.RegistryAuth`.
 */
export function sdkTypeName(token: string): string {
  const [, module = "index", name = ""] = /^[^:]+:([^/:]+)(?:\/[^:]+)?:(.+)$/.exec(token) ?? [];
  const capitalized = `${name.charAt(0).toUpperCase()}${name.slice(1)}`;
  return module === "index" ? capitalized : `${module}.${capitalized}`;
}

function schemaTypeShape(type: SchemaType): TypeShape {
  if (type.$ref !== undefined) {
    if (type.$ref === "pulumi.json#/Any" || type.$ref === "pulumi.json#/Json") return { kind: "any" };
    if (type.$ref === "pulumi.json#/Asset") return { kind: "asset" };
    if (type.$ref === "pulumi.json#/Archive") return { kind: "archive" };
    return { kind: "ref", name: sdkTypeName(type.$ref.replace(/^#\/types\//, "")) };
  }
  switch (type.type) {
    case "string":
    case "boolean":
      return { kind: type.type };
    case "integer":
    case "number":
      return { kind: "number" };
    case "array":
      return { kind: "array", of: schemaTypeShape(type.items ?? {}) };
    case "object":
      return type.additionalProperties
        ? { kind: "map", of: schemaTypeShape(type.additionalProperties) }
        : { kind: "any" };
    default:
      return { kind: "any" };
  }
}

function schemaObject(properties: Record<string, SchemaProperty> = {}, required: string[] = []): ObjectShape {
  return Object.fromEntries(
    Object.entries(properties).map(([name, property]) => [
      name,
      {
        type: schemaTypeShape(property),
        required: required.includes(name),
        secret: property.secret === true,
      },
    ]),
  );
}

export function schemaPackage(schema: PulumiSchema): PackageShape {
  const named = (direction: "input" | "output") =>
    Object.fromEntries(
      Object.entries(schema.types ?? {}).map(([token, type]): [string, NamedTypeShape] => {
        const required =
          direction === "output" ? (type.language?.nodejs?.requiredOutputs ?? type.required) : type.required;
        return [
          sdkTypeName(token),
          type.enum
            ? { kind: "enum", values: type.enum.map((member) => String(member.value)) }
            : { kind: "object", properties: schemaObject(type.properties, required) },
        ];
      }),
    );
  return {
    resources: Object.fromEntries(
      Object.entries(schema.resources ?? {}).map(([token, resource]) => [
        token,
        {
          inputs: schemaObject(resource.inputProperties, resource.requiredInputs),
          outputs: schemaObject(resource.properties, resource.required),
          state: schemaObject(resource.stateInputs?.properties),
        },
      ]),
    ),
    functions: Object.fromEntries(
      Object.entries(schema.functions ?? {}).map(([token, fn]) => [
        token,
        {
          inputs: schemaObject(fn.inputs?.properties, fn.inputs?.required),
          outputs: schemaObject(fn.outputs?.properties, fn.outputs?.required),
        },
      ]),
    ),
    provider: schemaObject(schema.provider?.inputProperties, schema.provider?.requiredInputs),
    config: schemaObject(schema.config?.variables),
    types: { input: named("input"), output: named("output") },
  };
}

// ---------------------------------------------------------------- the SDK's declarations

/** `pulumi.Input<string | undefined>` and the like, reduced to the type a program deals in. */
function declaredTypeShape(node: ts.TypeNode, where: string): TypeShape {
  if (ts.isTypeReferenceNode(node)) {
    const name = node.typeName.getText();
    if ((name === "pulumi.Input" || name === "pulumi.Output") && node.typeArguments?.length === 1)
      return declaredTypeShape(node.typeArguments[0], where);
    if (name === "pulumi.asset.Asset") return { kind: "asset" };
    if (name === "pulumi.asset.Archive") return { kind: "archive" };
    const named = /^(?:inputs|outputs|enums)\.(.+)$/.exec(name);
    if (named) return { kind: "ref", name: named[1] };
    throw new Error(`${where}: unexpected type ${name}`);
  }
  if (ts.isUnionTypeNode(node)) {
    const members = node.types.filter((member) => member.kind !== ts.SyntaxKind.UndefinedKeyword);
    const shapes = members.map((member) => declaredTypeShape(member, where));
    // An enum input is typed `string | enums.X`: the enum is what it means.
    const ref = shapes.find((shape) => shape.kind === "ref");
    if (ref) return ref;
    if (shapes.length === 1) return shapes[0];
    throw new Error(`${where}: unexpected union ${node.getText()}`);
  }
  if (ts.isArrayTypeNode(node)) return { kind: "array", of: declaredTypeShape(node.elementType, where) };
  if (ts.isParenthesizedTypeNode(node)) return declaredTypeShape(node.type, where);
  if (ts.isTypeLiteralNode(node)) {
    const index = node.members.find(ts.isIndexSignatureDeclaration);
    if (index) return { kind: "map", of: declaredTypeShape(index.type, where) };
  }
  switch (node.kind) {
    case ts.SyntaxKind.StringKeyword:
      return { kind: "string" };
    case ts.SyntaxKind.NumberKeyword:
      return { kind: "number" };
    case ts.SyntaxKind.BooleanKeyword:
      return { kind: "boolean" };
    case ts.SyntaxKind.AnyKeyword:
      return { kind: "any" };
    default:
      throw new Error(`${where}: unexpected type ${node.getText()}`);
  }
}

/** A property is required when the SDK neither marks it `?` nor lets it be `undefined`. */
function mayBeUndefined(node: ts.TypeNode): boolean {
  if (ts.isTypeReferenceNode(node) && node.typeArguments?.length === 1) {
    const name = node.typeName.getText();
    if (name === "pulumi.Input" || name === "pulumi.Output") return mayBeUndefined(node.typeArguments[0]);
  }
  return ts.isUnionTypeNode(node) && node.types.some((type) => type.kind === ts.SyntaxKind.UndefinedKeyword);
}

type Member = ts.PropertySignature | ts.PropertyDeclaration;

function declaredObject(
  members: readonly ts.Node[],
  where: string,
  secrets: readonly string[] = [],
): ObjectShape {
  const shape: ObjectShape = {};
  for (const member of members) {
    if (!(ts.isPropertySignature(member) || ts.isPropertyDeclaration(member))) continue;
    const property = member as Member;
    if (property.modifiers?.some((modifier) => modifier.kind === ts.SyntaxKind.StaticKeyword)) continue;
    if (!property.type) continue;
    const name = property.name.getText();
    shape[name] = {
      type: declaredTypeShape(property.type, `${where}.${name}`),
      required: !property.questionToken && !mayBeUndefined(property.type),
      secret: secrets.includes(name),
    };
  }
  return shape;
}

function parse(file: string): ts.SourceFile {
  return ts.createSourceFile(file, fs.readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
}

function interfaces(source: ts.SourceFile): Map<string, ts.InterfaceDeclaration> {
  return new Map(
    source.statements
      .filter(ts.isInterfaceDeclaration)
      .map((declaration) => [declaration.name.text, declaration]),
  );
}

/** Named types of `types/input.d.ts` or `types/output.d.ts`, with those of their namespaces (`config.X`). */
function declaredTypes(file: string, enums: Record<string, NamedTypeShape>): Record<string, NamedTypeShape> {
  const types: Record<string, NamedTypeShape> = { ...enums };
  const visit = (statements: readonly ts.Statement[], prefix: string) => {
    for (const statement of statements) {
      if (ts.isInterfaceDeclaration(statement)) {
        const name = `${prefix}${statement.name.text}`;
        types[name] = { kind: "object", properties: declaredObject(statement.members, name) };
      } else if (ts.isModuleDeclaration(statement) && statement.body && ts.isModuleBlock(statement.body)) {
        visit(statement.body.statements, `${prefix}${statement.name.text}.`);
      }
    }
  };
  if (fs.existsSync(file)) visit(parse(file).statements, "");
  return types;
}

/** `export declare const X: { readonly A: "a"; ... }` in `types/enums`. */
function declaredEnums(dir: string): Record<string, NamedTypeShape> {
  const file = path.join(dir, "types", "enums", "index.d.ts");
  if (!fs.existsSync(file)) return {};
  const enums: Record<string, NamedTypeShape> = {};
  for (const statement of parse(file).statements) {
    if (!ts.isVariableStatement(statement)) continue;
    for (const declaration of statement.declarationList.declarations) {
      if (!declaration.type || !ts.isTypeLiteralNode(declaration.type)) continue;
      const values = declaration.type.members
        .filter(ts.isPropertySignature)
        .map((member) => member.type)
        .filter((type): type is ts.LiteralTypeNode => type !== undefined && ts.isLiteralTypeNode(type))
        .map((type) => type.literal.getText().replace(/^"|"$/g, ""));
      enums[declaration.name.getText()] = { kind: "enum", values };
    }
  }
  return enums;
}

/** The `.js` beside a declaration: the resource token, the function token, and what it makes secret. */
function emitted(dir: string, base: string): { text: string; token?: string; invoke?: string } {
  const text = fs.readFileSync(path.join(dir, `${base}.js`), "utf8");
  return {
    text,
    token: /__pulumiType = '([^']+)'/.exec(text)?.[1],
    invoke: /\.invoke\("([^"]+)"/.exec(text)?.[1],
  };
}

function secretInputs(js: string): string[] {
  return [...js.matchAll(/resourceInputs\["(\w+)"\] = [^;\n]*pulumi\.secret\(/g)].map((match) => match[1]);
}

function secretOutputs(js: string): string[] {
  const list = /additionalSecretOutputs: \[([^\]]*)\]/.exec(js)?.[1] ?? "";
  return [...list.matchAll(/"(\w+)"/g)].map((match) => match[1]);
}

/** What an npm provider package (`node_modules/@pulumi/docker`) declares. */
export function sdkPackage(dir: string): PackageShape {
  const enums = declaredEnums(dir);
  const shape: PackageShape = {
    resources: {},
    functions: {},
    provider: {},
    config: {},
    types: {
      input: declaredTypes(path.join(dir, "types", "input.d.ts"), enums),
      output: declaredTypes(path.join(dir, "types", "output.d.ts"), enums),
    },
  };
  for (const file of fs.readdirSync(dir).filter((name) => name.endsWith(".d.ts"))) {
    const base = file.replace(/\.d\.ts$/, "");
    if (base === "index" || base === "utilities") continue;
    const source = parse(path.join(dir, file));
    const declared = interfaces(source);
    const resourceClass = source.statements
      .filter(ts.isClassDeclaration)
      .find((declaration) =>
        declaration.heritageClauses?.some((clause) =>
          clause.types.some((type) =>
            ["pulumi.CustomResource", "pulumi.ProviderResource"].includes(type.expression.getText()),
          ),
        ),
      );
    const js = emitted(dir, base);
    if (resourceClass?.name) {
      const name = resourceClass.name.text;
      const inputs = declaredObject(
        declared.get(`${name}Args`)?.members ?? [],
        `${name}Args`,
        secretInputs(js.text),
      );
      if (name === "Provider") {
        shape.provider = inputs;
        continue;
      }
      if (!js.token) throw new Error(`${base}.js names no resource token`);
      shape.resources[js.token] = {
        inputs,
        outputs: declaredObject(resourceClass.members, name, secretOutputs(js.text)),
        state: declaredObject(declared.get(`${name}State`)?.members ?? [], `${name}State`),
      };
    } else if (js.invoke) {
      const name = base.charAt(0).toUpperCase() + base.slice(1);
      shape.functions[js.invoke] = {
        inputs: declaredObject(declared.get(`${name}Args`)?.members ?? [], `${name}Args`),
        outputs: declaredObject(declared.get(`${name}Result`)?.members ?? [], `${name}Result`),
      };
    }
  }
  const vars = path.join(dir, "config", "vars.d.ts");
  if (fs.existsSync(vars)) {
    for (const statement of parse(vars).statements.filter(ts.isVariableStatement)) {
      for (const declaration of statement.declarationList.declarations) {
        if (!declaration.type) continue;
        const name = declaration.name.getText();
        // Every config variable is optional to a program.
        shape.config[name] = {
          type: declaredTypeShape(declaration.type, `config.${name}`),
          required: false,
          secret: false,
        };
      }
    }
  }
  return shape;
}

// ---------------------------------------------------------------- the comparison

function formatType(type: TypeShape): string {
  switch (type.kind) {
    case "array":
      return `${formatType(type.of)}[]`;
    case "map":
      return `map of ${formatType(type.of)}`;
    case "ref":
      return type.name;
    default:
      return type.kind;
  }
}

type Direction = "input" | "output" | "state";

function compareObjects(
  at: string,
  sdk: ObjectShape,
  plugin: ObjectShape,
  direction: Direction,
  differences: string[],
): void {
  for (const [name, expected] of Object.entries(sdk)) {
    const where = `${at}.${name}`;
    const found = plugin[name];
    if (!found) {
      differences.push(`${where}: missing from the plugin`);
      continue;
    }
    if (formatType(expected.type) !== formatType(found.type))
      differences.push(
        `${where}: ${formatType(found.type)} in the plugin, ${formatType(expected.type)} in the SDK`,
      );
    if (direction === "input" && found.required && !expected.required)
      differences.push(`${where}: required by the plugin, optional in the SDK`);
    if (direction === "output" && expected.required && !found.required)
      differences.push(`${where}: optional in the plugin, always set in the SDK`);
    if (expected.secret && !found.secret) differences.push(`${where}: secret in the SDK, not in the plugin`);
  }
}

function compareTypes(
  direction: "input" | "output",
  sdk: Record<string, NamedTypeShape>,
  plugin: Record<string, NamedTypeShape>,
  differences: string[],
): void {
  for (const [name, expected] of Object.entries(sdk)) {
    const where = `${direction} type ${name}`;
    // Function arguments of an object type get a second input declaration, `<type>Args`.
    const found = plugin[name] ?? plugin[name.replace(/Args$/, "")];
    if (!found) {
      differences.push(`${where}: missing from the plugin`);
    } else if (expected.kind !== found.kind) {
      differences.push(`${where}: ${found.kind} in the plugin, ${expected.kind} in the SDK`);
    } else if (expected.kind === "enum" && found.kind === "enum") {
      for (const value of expected.values.filter((value) => !found.values.includes(value)))
        differences.push(`${where}: value ${value} missing from the plugin`);
    } else if (expected.kind === "object" && found.kind === "object") {
      compareObjects(where, expected.properties, found.properties, direction, differences);
    }
  }
}

/** How one part of a resource or function is compared: its label, its direction, where it is. */
type Part<Member> = [label: string, direction: Direction, of: (member: Member) => ObjectShape];

function compareMembers<Member>(
  sdk: Record<string, Member>,
  plugin: Record<string, Member>,
  parts: Part<Member>[],
  differences: string[],
): void {
  for (const [token, expected] of Object.entries(sdk)) {
    const found = plugin[token];
    if (!found) {
      differences.push(`${token}: missing from the plugin`);
      continue;
    }
    for (const [label, direction, of] of parts)
      compareObjects(`${token} ${label}`, of(expected), of(found), direction, differences);
  }
}

/** Every way `plugin` falls short of what `sdk` declares, one line each, sorted. */
export function conformance(sdk: PackageShape, plugin: PackageShape): string[] {
  const differences: string[] = [];
  compareMembers(
    sdk.resources,
    plugin.resources,
    [
      ["input", "input", (resource) => resource.inputs],
      ["output", "output", (resource) => resource.outputs],
      ["state", "state", (resource) => resource.state],
    ],
    differences,
  );
  compareMembers(
    sdk.functions,
    plugin.functions,
    [
      ["argument", "input", (fn) => fn.inputs],
      ["result", "output", (fn) => fn.outputs],
    ],
    differences,
  );
  compareObjects("provider input", sdk.provider, plugin.provider, "input", differences);
  compareObjects("config", sdk.config, plugin.config, "state", differences);
  compareTypes("input", sdk.types.input, plugin.types.input, differences);
  compareTypes("output", sdk.types.output, plugin.types.output, differences);
  return differences.sort();
}
