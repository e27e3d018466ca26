import { PolicyPack } from "@pulumi/policy";
import { switchyardPack } from "./pack";
import { currentStackFacts } from "./stack";

new PolicyPack("switchyard", switchyardPack(currentStackFacts()));
