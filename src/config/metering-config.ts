/**
 * Top-level config keys for metering, audit and metrics. Spread into the config schema;
 * add keys here, each with a default so that an empty config file stays valid.
 */
export const meteringConfigShape = {};
