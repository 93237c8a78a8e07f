/**
 * Top-level config keys for backends and routes (the gateway). Spread into the config schema;
 * add keys here, each with a default so that an empty config file stays valid.
 */
export const gatewayConfigShape = {};
