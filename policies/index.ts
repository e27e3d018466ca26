import { PolicyPack } from "@pulumi/policy";
import { AnalyzerService } from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import { switchyardPack } from "./pack";
import { currentStackFacts, followConfigureStack } from "./stack";

// PolicyPack reads its version from `./package.json`, relative to the working directory, and the
// engine starts a pack in the program's main directory (infra/), not in the pack's own.
process.chdir(__dirname);
const facts = currentStackFacts();
followConfigureStack(AnalyzerService.configureStack, facts);
new PolicyPack("switchyard", switchyardPack(facts));
