/**
 * Top-level config keys for policies (the residency policy). Spread into the config schema;
 * add keys here, each with a default so that an empty config file stays valid.
 */
export const policiesConfigShape = {};
