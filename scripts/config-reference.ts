/**
 * `npm run docs:config`: rewrites the config reference in README.md from the schema, between
 * the `config-reference` markers. test/unit/config.test.ts fails when it is stale.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { replaceConfigReference } from "../infra/configReference";

const readme = path.join(__dirname, "..", "README.md");
fs.writeFileSync(readme, replaceConfigReference(fs.readFileSync(readme, "utf8")));
console.log(`updated the config reference in ${path.relative(process.cwd(), readme)}`);
