/**
 * The policy module: detectors, data classification, residency rules and reversible
 * pseudonymisation. Fails closed everywhere: see `policy-engine.ts`.
 */
export { type CheckedDetection, checkText, maskValue, type PolicyCheck } from "./check.ts";
export { describeCounts, egressFor, policyDenied, rawAllowed, summarise } from "./egress.ts";
export { createPolicyEngine, type PolicyDescription, type PolicyEngineOptions } from "./policy-engine.ts";
export { PolicyDeniedError } from "./policy-error.ts";
export { createPseudonymiser } from "./pseudonymiser.ts";
export { requestTexts } from "./request-texts.ts";
export type { Detector, Finding } from "./scanner.ts";
export type * from "./types.ts";
