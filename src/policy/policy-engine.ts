import {
  builtInPolicies,
  type ClassRuleConfig,
  type CustomRuleConfig,
  dataClasses,
  detectorTypes,
  type PoliciesConfig,
  type PolicyDefinitionConfig,
} from "../config/policies-config.ts";
import type { ChatRequest } from "../core/chat.ts";
import { BastionError } from "../core/errors.ts";
import { PolicyDeniedError } from "./policy-error.ts";
import { type RequestText, requestTexts } from "./request-texts.ts";
import { type CustomMatcher, createScanner, type Detector, type Scanner } from "./scanner.ts";
import type { DataClass, Detection, DetectorType, Inspection, PolicyAction, PolicyEngine } from "./types.ts";

export interface PolicyEngineOptions {
  /** Detectors beyond the built-in ones (a model-based name finder, a module's own), run in every policy. */
  detectors?: readonly Detector[];
}

/** A class rule with its defaults filled in. */
export interface ResolvedRule {
  action: PolicyAction;
  zones: string[] | "any";
  extraterritorial: boolean;
  backends?: string[];
}

/** A policy as the engine runs it: rules for every class and its scanner. */
interface CompiledPolicy {
  name: string;
  rules: Record<DataClass, ResolvedRule>;
  defaultClass: DataClass;
  customClass: ReadonlyMap<string, DataClass>;
  scanner: Scanner;
}

/** A policy as `GET /admin/v1/policies` and `bastion policy list` show it (no secrets in it). */
export interface PolicyDescription {
  name: string;
  builtIn: boolean;
  defaultClass: DataClass;
  classes: CompiledPolicy["rules"];
  detectors: DetectorType[];
  custom: Array<{ name: string; class: DataClass; kind: "pattern" | "keywords" }>;
}

const rank: Record<DataClass, number> = { public: 0, internal: 1, personal: 2, secret: 3 };

/**
 * Builds the policy engine from the `policies` config: the built-in policies, overridden or joined
 * by the configured ones. Fails closed: an error inside detection or evaluation is thrown as a
 * `PolicyDeniedError` (403, reason `policy_error`), so nothing leaves on a bug.
 */
export function createPolicyEngine(
  config: PoliciesConfig,
  options: PolicyEngineOptions = {},
): PolicyEngine & {
  describe(): PolicyDescription[];
} {
  const definitions: Record<string, PolicyDefinitionConfig> = { ...builtInPolicies, ...config.definitions };
  const policies = new Map<string, CompiledPolicy>();
  for (const [name, definition] of Object.entries(definitions))
    policies.set(name, compilePolicy(name, definition, options.detectors ?? []));
  if (!policies.has(config.default))
    throw new BastionError("invalid_request", `policies.default: no policy named "${config.default}".`);

  const policyFor = (name: string | undefined): CompiledPolicy => {
    const policy = policies.get(name ?? config.default);
    if (policy === undefined)
      throw new PolicyDeniedError(
        "unknown_policy",
        `No policy named "${name}"; known policies: ${[...policies.keys()].join(", ")}.`,
      );
    return policy;
  };

  const evaluate = (
    texts: RequestText[],
    inspectOptions: { policy?: string; declaredDataClass?: string },
  ): Inspection => {
    const declared = parseDeclaredClass(inspectOptions.declaredDataClass);
    const policy = policyFor(inspectOptions.policy);
    try {
      const detections: Detection[] = [];
      const unmaskable = new Set<string>();
      for (const { path, text, maskable } of texts) {
        if (text.length === 0) continue;
        const found = policy.scanner.scan(text, path);
        for (const detection of found) detections.push(detection);
        if (!maskable && found.length > 0) unmaskable.add(path);
      }
      const inspection = decide(policy, detections, declared);
      if (unmaskable.size > 0)
        inspection.unmaskable = [...unmaskable].map((path) => redactPath(path, detections));
      return inspection;
    } catch (error) {
      // Fail closed: whatever broke, the request is denied rather than sent unchecked. The cause's
      // message stays out of the answer: a detector's error may quote the text it choked on.
      throw new PolicyDeniedError(
        "policy_error",
        `The data policy could not be evaluated (${error instanceof Error ? error.name : "error"} in ${policy.name}), so the request was not sent anywhere`,
        { cause: error },
      );
    }
  };

  return {
    defaultPolicy: config.default,
    names: () => [...policies.keys()],
    inspect: (request: ChatRequest, inspectOptions = {}) => {
      let texts: RequestText[];
      try {
        texts = requestTexts(request);
      } catch (error) {
        throw new PolicyDeniedError("policy_error", "The request's texts could not be read for inspection", {
          cause: error,
        });
      }
      return evaluate(texts, inspectOptions);
    },
    inspectText: (text: string, inspectOptions = {}) =>
      evaluate([{ path: "text", text, maskable: true }], inspectOptions),
    describe: () =>
      [...policies.values()].map((policy) => {
        const definition = definitions[policy.name] as PolicyDefinitionConfig;
        return {
          name: policy.name,
          builtIn: config.definitions[policy.name] === undefined,
          defaultClass: policy.defaultClass,
          classes: policy.rules,
          detectors: detectorTypes.filter((type) => definition.detectors[type] !== false),
          custom: definition.custom.map((rule) => ({
            name: rule.name,
            class: rule.class,
            kind: rule.pattern === undefined ? ("keywords" as const) : ("pattern" as const),
          })),
        };
      }),
  };
}

/**
 * A path fit for an error message: a detected value that is part of it (a property name that is an
 * email) becomes its type, `⟦EMAIL⟧`, so that the message carries no personal data.
 */
function redactPath(path: string, detections: readonly Detection[]): string {
  let redacted = path;
  for (const detection of detections)
    if (detection.value.length > 0 && redacted.includes(detection.value))
      redacted = redacted.replaceAll(detection.value, `⟦${detection.type.toUpperCase()}⟧`);
  return redacted;
}

function parseDeclaredClass(value: string | undefined): DataClass | undefined {
  if (value === undefined || value === "") return undefined;
  const normalised = value.trim().toLowerCase();
  if ((dataClasses as readonly string[]).includes(normalised)) return normalised as DataClass;
  throw new BastionError(
    "invalid_request",
    `Header x-bastion-data-class must be one of ${dataClasses.join(", ")}, not "${value}".`,
    { param: "x-bastion-data-class" },
  );
}

function classOf(detection: Detection, policy: CompiledPolicy): DataClass {
  if (detection.type === "secret") return "secret";
  if (detection.type === "custom") return policy.customClass.get(detection.subtype ?? "") ?? "internal";
  return "personal";
}

function decide(
  policy: CompiledPolicy,
  detections: Detection[],
  declared: DataClass | undefined,
): Inspection {
  let dataClass = policy.defaultClass;
  let source = "by_default";
  // Distinct values by type, as a DPO reads "2 emails": one address written three times (in the
  // question, the history, a tool's arguments) is one email. A value counts once, under the type it
  // was first found as, which is also the placeholder the pseudonymiser gives it.
  const counts: Record<string, number> = {};
  const seen = new Set<string>();
  for (const detection of detections) {
    if (!seen.has(detection.value)) {
      seen.add(detection.value);
      counts[detection.type] = (counts[detection.type] ?? 0) + 1;
    }
    const detected = classOf(detection, policy);
    if (rank[detected] > rank[dataClass] || (rank[detected] === rank[dataClass] && source === "by_default")) {
      dataClass = detected;
      source = "detected";
    }
  }
  // The header may only raise the class: a client cannot declare its way out of a detection.
  if (declared !== undefined && rank[declared] > rank[dataClass]) {
    dataClass = declared;
    source = "declared";
  }
  const rule = policy.rules[dataClass];
  const action: PolicyAction = rule.action;
  const allowed: Inspection["allowed"] = { zones: rule.zones, extraterritorial: rule.extraterritorial };
  if (rule.backends !== undefined) allowed.backends = [...rule.backends];
  const inspection: Inspection = { policy: policy.name, dataClass, action, detections, counts, allowed };
  if (action === "block") inspection.reason = `${dataClass}_${source}`;
  return inspection;
}

function compilePolicy(
  name: string,
  definition: PolicyDefinitionConfig,
  extra: readonly Detector[],
): CompiledPolicy {
  const fallback = (builtInPolicies["eu-strict"] as PolicyDefinitionConfig).classes;
  const rules = {} as CompiledPolicy["rules"];
  for (const dataClass of dataClasses) {
    const rule = definition.classes[dataClass] ?? (fallback[dataClass] as ClassRuleConfig);
    // Unset zones follow the action: allow means anywhere, the others mean this server only.
    const zones = rule.zones ?? (rule.action === "allow" ? "any" : ["local"]);
    const resolved: ResolvedRule = {
      action: rule.action,
      zones: zones === "any" ? "any" : [...zones],
      extraterritorial: rule.extraterritorial ?? rule.action === "allow",
    };
    if (rule.backends !== undefined) resolved.backends = [...rule.backends];
    rules[dataClass] = resolved;
  }
  const enabled = new Set<DetectorType>(detectorTypes.filter((type) => definition.detectors[type] !== false));
  const customClass = new Map<string, DataClass>();
  const custom: CustomMatcher[] = [];
  definition.custom.forEach((rule, index) => {
    customClass.set(rule.name, rule.class);
    custom.push({
      name: rule.name,
      regex: compileCustom(rule, `policies.definitions.${name}.custom[${index}]`),
      wordBoundary: rule.keywords !== undefined,
    });
    if (rule.keywords !== undefined)
      (custom[custom.length - 1] as CustomMatcher).prefixes = keywordPrefixes(rule);
  });
  return {
    name,
    rules,
    defaultClass: definition.defaultClass,
    customClass,
    scanner: createScanner({ enabled, custom, extra }),
  };
}

/**
 * The first two characters a keyword list's matches can start with, in every case the list's
 * expression accepts (as compileCustom folds them), each as a one- or two-character string.
 */
function keywordPrefixes(rule: CustomRuleConfig): string[] {
  const variants = (character: string) => {
    const lower = character.toLowerCase();
    const upper = character.toUpperCase();
    return rule.caseSensitive || lower.length !== 1 || upper.length !== 1
      ? [character]
      : [...new Set([character, lower, upper])];
  };
  const prefixes = new Set<string>();
  for (const word of rule.keywords ?? []) {
    const units = word.slice(0, 2);
    for (const first of variants(units[0] as string))
      if (units.length === 1) prefixes.add(first);
      else for (const second of variants(units[1] as string)) prefixes.add(first + second);
  }
  return [...prefixes];
}

function compileCustom(rule: CustomRuleConfig, keyPath: string): RegExp {
  try {
    if (rule.pattern !== undefined) return new RegExp(rule.pattern, `g${rule.flags ?? ""}`);
    const words = (rule.keywords ?? []).map((word) =>
      [...word]
        .map((character) => {
          const escaped = character.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
          const lower = character.toLowerCase();
          const upper = character.toUpperCase();
          // Case folded by hand: the engine's case-insensitive Unicode mode is several times slower.
          return rule.caseSensitive || lower === upper || lower.length !== 1 || upper.length !== 1
            ? escaped
            : `[${lower}${upper}]`;
        })
        .join(""),
    );
    // Whole words only, with Unicode letters as word characters ("Orion" but not "Orionids"): the
    // scanner checks the characters on both sides itself (see CustomMatcher.wordBoundary).
    return new RegExp(`(?:${words.join("|")})`, "g");
  } catch (error) {
    throw new BastionError("invalid_request", `${keyPath}: ${(error as Error).message}`);
  }
}
