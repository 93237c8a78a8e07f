import type { Jurisdiction } from "../core/backend.ts";
import type { ChatRequest } from "../core/chat.ts";

/** The kinds of value the detectors find. */
export type DetectorType =
  | "email"
  | "phone"
  | "iban"
  | "payment_card"
  | "ip_address"
  | "national_id"
  | "secret"
  | "person"
  | "custom";

export interface Detection {
  type: DetectorType;
  /** Finer label, e.g. `fr_nir`, `es_dni`, `jwt`, `aws_access_key`, or a custom pattern's name. */
  subtype?: string;
  /**
   * Which text of the request: `messages[2].content`, `messages[3].tool_calls[0].arguments`,
   * `tools[0].function.description`, `response_format.json_schema.schema.properties.email.description`,
   * or `text`.
   */
  path: string;
  /** UTF-16 offsets into that text. */
  start: number;
  end: number;
  /** The matched value. In memory only: never logged, stored, audited or sent anywhere. */
  value: string;
  /** 0..1; a checksum-validated identifier is 1. */
  score: number;
}

export type DataClass = "public" | "internal" | "personal" | "secret";
export type PolicyAction = "allow" | "keep-local" | "pseudonymise" | "block";

/** What a named policy decided for one request, before a backend is chosen. */
export interface Inspection {
  policy: string;
  dataClass: DataClass;
  action: PolicyAction;
  detections: Detection[];
  /**
   * Distinct detected values by type (counts only), for evidence, metering and audit: a value found
   * several times (repeated, in several messages or tool arguments) counts once, under the type it
   * was first found as, so that under pseudonymisation it equals the placeholders issued.
   */
  counts: Record<string, number>;
  /** Where raw data may go under this decision. */
  allowed: {
    /** Zones (`local`, `EU`, `EEA`, `adequacy`, `other`) or "any". */
    zones: string[] | "any";
    /** Whether operators under extraterritorial non-EU law may receive raw data. */
    extraterritorial: boolean;
    /** When set, only these backend ids may receive raw data. */
    backends?: string[];
  };
  /** Machine-readable reason when `action` is `block`, e.g. `secret_detected`. */
  reason?: string;
  /**
   * Fields holding a detection that a placeholder cannot stand in for (a schema's property name, a
   * `pattern`, a tool's name), by path, with detected values in the path masked as `⟦EMAIL⟧`. Under
   * pseudonymise such a request may only go where raw data may; elsewhere it is denied.
   */
  unmaskable?: string[];
}

/**
 * Detection and residency rules. Fails closed: any internal error is thrown as a `BastionError`
 * (`forbidden`, reason `policy_error`) and the gateway lets nothing leave.
 */
export interface PolicyEngine {
  readonly defaultPolicy: string;
  names(): string[];
  /** Runs every detector over every text the request carries (messages, tool arguments, tool results). */
  inspect(request: ChatRequest, options?: { policy?: string; declaredDataClass?: string }): Inspection;
  /** The same over one text (for `bastion policy check`, the console's dry-run box, documents). */
  inspectText(text: string, options?: { policy?: string; declaredDataClass?: string }): Inspection;
}

/** How a backend may be used under an inspection: raw data, only pseudonymised data, or not at all. */
export type Egress = "raw" | "pseudonymised" | "denied";

/** Reversible pseudonymisation of one request: `⟦EMAIL_1⟧` placeholders out, values back in. */
export interface Pseudonymiser {
  /** The request with every detected value replaced by its placeholder (same value, same placeholder). */
  mask(request: ChatRequest): ChatRequest;
  /** Restores placeholders in a whole text. */
  restore(text: string): string;
  /** Restores placeholders in a stream of deltas, holding back a possibly split placeholder. */
  createRestorer(): { push(delta: string): string; flush(): string };
  /** Restores placeholders inside tool-call argument JSON, escaping each value for a JSON string. */
  restoreArguments(json: string): string;
  /** Placeholders issued, by type. */
  counts(): Record<string, number>;
}

export type BackendPlace = { id: string; jurisdiction: Jurisdiction };
