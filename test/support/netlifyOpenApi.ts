/**
 * Checks HTTP requests and responses against Netlify's published API description
 * (`@netlify/open-api`, Swagger 2.0): the operation (method and path template), path, query
 * and header parameters (declared, required, typed, enumerated) and the JSON body against its
 * schema. Stricter than JSON Schema in one way, on purpose: an object property the description
 * does not declare is a problem, because Netlify would ignore a misspelt field in silence.
 */
import type { IncomingHttpHeaders } from "node:http";

export interface Schema {
  type?: string;
  format?: string;
  enum?: unknown[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  additionalProperties?: boolean | Schema;
  "x-nullable"?: boolean;
  minimum?: number;
  maximum?: number;
}

export interface Parameter extends Omit<Schema, "required"> {
  name: string;
  in: "path" | "query" | "header" | "body" | "formData";
  required?: boolean;
  schema?: Schema;
}

export interface Operation {
  operationId: string;
  parameters?: Parameter[];
  consumes?: string[];
  responses: Record<string, { schema?: Schema }>;
}

export interface ApiDescription {
  basePath: string;
  consumes: string[];
  paths: Record<string, Record<string, unknown>>;
}

export interface ReceivedRequest {
  method: string;
  /** Path and query as received. */
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface RequestCheck {
  /** Absent when no operation of the description matches. */
  operationId?: string;
  operation?: Operation;
  pathParams: Record<string, string>;
  query: Record<string, string | string[]>;
  /** The parsed JSON body, if any. */
  body: unknown;
  problems: string[];
}

/** The netlify description itself. */
export function netlifyDescription(): ApiDescription {
  return require("@netlify/open-api") as ApiDescription;
}

const httpMethods = new Set(["get", "put", "post", "delete", "patch", "head", "options"]);

/** The operation whose template matches most specifically: literal segments win over `{param}`. */
function findOperation(
  description: ApiDescription,
  method: string,
  path: string,
):
  | { template: string; operation: Operation; parameters: Parameter[]; pathParams: Record<string, string> }
  | undefined {
  const segments = path.split("/");
  let best: { template: string; params: Record<string, string>; literal: number } | undefined;
  for (const template of Object.keys(description.paths)) {
    const parts = template.split("/");
    if (parts.length !== segments.length) continue;
    const params: Record<string, string> = {};
    let literal = 0;
    const matches = parts.every((part, index) => {
      const param = /^\{(.+)\}$/.exec(part);
      if (param) {
        if (segments[index] === "") return false;
        params[param[1]] = decodeURIComponent(segments[index]);
        return true;
      }
      literal++;
      return part === segments[index];
    });
    if (matches && (!best || literal > best.literal)) best = { template, params, literal };
  }
  if (!best) return undefined;
  const item = description.paths[best.template];
  const operation = item[method.toLowerCase()] as Operation | undefined;
  if (!operation || !httpMethods.has(method.toLowerCase())) return undefined;
  // Operation parameters override the path item's of the same name and place.
  const parameters = new Map<string, Parameter>();
  for (const parameter of [...((item.parameters as Parameter[]) ?? []), ...(operation.parameters ?? [])])
    parameters.set(`${parameter.in}:${parameter.name}`, parameter);
  return {
    template: best.template,
    operation,
    parameters: [...parameters.values()],
    pathParams: best.params,
  };
}

/** Problems of one text value (path, query, header) against its parameter's declared type. */
function textProblems(parameter: Parameter, text: string, at: string): string[] {
  const { type, format, enum: allowed, minimum, maximum } = parameter;
  const scalar: Schema = { type, format, enum: allowed, minimum, maximum };
  switch (parameter.type) {
    case "integer":
      if (!/^-?\d+$/.test(text)) return [`${at}: expected an integer, got ${JSON.stringify(text)}`];
      return schemaProblems(scalar, Number(text), at);
    case "number":
      if (text.trim() === "" || Number.isNaN(Number(text)))
        return [`${at}: expected a number, got ${JSON.stringify(text)}`];
      return schemaProblems(scalar, Number(text), at);
    case "boolean":
      return text === "true" || text === "false"
        ? []
        : [`${at}: expected true or false, got ${JSON.stringify(text)}`];
    case "string":
      return schemaProblems(scalar, text, at);
    default:
      return [`${at}: parameters of type ${parameter.type} are not checked here`];
  }
}

function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

/** Problems of a JSON value against a Swagger 2.0 schema. */
export function schemaProblems(schema: Schema, value: unknown, at: string): string[] {
  if (value === null) return schema["x-nullable"] ? [] : [`${at}: null where the description allows none`];
  const problems: string[] = [];
  switch (schema.type) {
    case undefined:
      break;
    case "integer":
      if (!Number.isInteger(value)) return [`${at}: expected an integer, got ${typeOf(value)}`];
      break;
    case "number":
      if (typeof value !== "number") return [`${at}: expected a number, got ${typeOf(value)}`];
      break;
    case "string":
    case "boolean":
      if (typeof value !== schema.type) return [`${at}: expected a ${schema.type}, got ${typeOf(value)}`];
      break;
    case "array":
      if (!Array.isArray(value)) return [`${at}: expected an array, got ${typeOf(value)}`];
      if (schema.items)
        value.forEach((item, index) =>
          problems.push(...schemaProblems(schema.items as Schema, item, `${at}[${index}]`)),
        );
      break;
    case "object": {
      if (typeOf(value) !== "object") return [`${at}: expected an object, got ${typeOf(value)}`];
      const record = value as Record<string, unknown>;
      for (const name of schema.required ?? [])
        if (!(name in record)) problems.push(`${at}.${name}: required`);
      for (const [name, inner] of Object.entries(record)) {
        const declared = schema.properties?.[name];
        if (declared) problems.push(...schemaProblems(declared, inner, `${at}.${name}`));
        else if (typeof schema.additionalProperties === "object")
          problems.push(...schemaProblems(schema.additionalProperties, inner, `${at}.${name}`));
        else if (schema.additionalProperties !== true)
          problems.push(`${at}.${name}: not a property the description declares`);
      }
      break;
    }
    default:
      return [`${at}: values of type ${schema.type} are not checked here`];
  }
  if (schema.enum && !schema.enum.includes(value))
    problems.push(
      `${at}: ${JSON.stringify(value)} is not one of ${schema.enum.map((v) => JSON.stringify(v)).join(", ")}`,
    );
  if (typeof value === "number") {
    if (schema.minimum !== undefined && value < schema.minimum)
      problems.push(`${at}: below ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum)
      problems.push(`${at}: above ${schema.maximum}`);
  }
  return problems;
}

/** Checks one request against the description. */
export function checkRequest(description: ApiDescription, request: ReceivedRequest): RequestCheck {
  const url = new URL(request.url, "http://netlify.invalid");
  const check: RequestCheck = { pathParams: {}, query: {}, body: undefined, problems: [] };
  const where = `${request.method} ${url.pathname}`;
  if (!url.pathname.startsWith(`${description.basePath}/`)) {
    check.problems.push(`${where}: outside the API's base path ${description.basePath}`);
    return check;
  }
  const found = findOperation(description, request.method, url.pathname.slice(description.basePath.length));
  if (!found) {
    check.problems.push(`${where}: no operation of the description has this method and path`);
    return check;
  }
  const { operation, parameters } = found;
  check.operationId = operation.operationId;
  check.operation = operation;
  check.pathParams = found.pathParams;
  const at = (place: string, name: string) => `${operation.operationId} ${place} ${name}`;

  for (const parameter of parameters.filter((p) => p.in === "path")) {
    const value = found.pathParams[parameter.name];
    if (value === undefined) check.problems.push(`${at("path", parameter.name)}: missing`);
    else check.problems.push(...textProblems(parameter, value, at("path", parameter.name)));
  }

  const queryParameters = new Map(parameters.filter((p) => p.in === "query").map((p) => [p.name, p]));
  for (const [rawName, value] of url.searchParams) {
    const isList = rawName.endsWith("[]");
    const name = isList ? rawName.slice(0, -2) : rawName;
    const parameter = queryParameters.get(name);
    if (!parameter) {
      check.problems.push(`${at("query", name)}: not a parameter of this operation`);
      continue;
    }
    if (isList !== (parameter.type === "array")) {
      check.problems.push(
        `${at("query", name)}: ${isList ? "sent as a list, declared single" : "declared a list"}`,
      );
      continue;
    }
    const itemParameter = isList ? { ...parameter, ...parameter.items } : parameter;
    check.problems.push(...textProblems(itemParameter as Parameter, value, at("query", name)));
    const previous = check.query[name];
    check.query[name] = previous === undefined ? value : [...[previous].flat(), value];
  }
  for (const parameter of queryParameters.values())
    if (parameter.required && !url.searchParams.has(parameter.name))
      check.problems.push(`${at("query", parameter.name)}: required`);

  for (const parameter of parameters.filter((p) => p.in === "header")) {
    const value = request.headers[parameter.name.toLowerCase()];
    if (value === undefined) {
      if (parameter.required) check.problems.push(`${at("header", parameter.name)}: required`);
    } else check.problems.push(...textProblems(parameter, String(value), at("header", parameter.name)));
  }

  const bodyParameter = parameters.find((p) => p.in === "body");
  const formParameters = parameters.filter((p) => p.in === "formData");
  const contentType = String(request.headers["content-type"] ?? "");
  if (request.body.length === 0) {
    if (bodyParameter?.required) check.problems.push(`${at("body", bodyParameter.name)}: required`);
    for (const parameter of formParameters)
      if (parameter.required) check.problems.push(`${at("form field", parameter.name)}: required`);
  } else if (bodyParameter) {
    if (!contentType.startsWith("application/json"))
      check.problems.push(
        `${at("body", bodyParameter.name)}: sent as ${contentType || "no content type"}, expected JSON`,
      );
    try {
      check.body = JSON.parse(request.body.toString("utf8"));
      check.problems.push(
        ...schemaProblems(bodyParameter.schema ?? {}, check.body, at("body", bodyParameter.name)),
      );
    } catch {
      check.problems.push(`${at("body", bodyParameter.name)}: not JSON`);
    }
  } else if (formParameters.length > 0) {
    check.problems.push(`${operation.operationId}: form bodies (${contentType}) are not checked here`);
  } else {
    check.problems.push(`${operation.operationId}: sends a body, but the operation takes none`);
  }

  if (!/^Bearer \S+$/.test(String(request.headers.authorization ?? "")))
    check.problems.push(`${operation.operationId}: no bearer token (the description requires OAuth2)`);
  return check;
}

/** Problems of a response the fake server is about to send, against the operation's description. */
export function checkResponse(operation: Operation, status: number, body: unknown): string[] {
  const response = operation.responses[String(status)] ?? operation.responses.default;
  const where = `${operation.operationId} response ${status}`;
  if (!response) return [`${where}: not a status the description lists`];
  if (!response.schema)
    return body === undefined ? [] : [`${where}: has a body the description does not describe`];
  if (body === undefined) return [`${where}: described with a body, sent none`];
  return schemaProblems(response.schema, body, where);
}
