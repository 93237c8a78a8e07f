/**
 * Top-level config keys for auth, limits and database (the control plane). Spread into the config schema;
 * add keys here, each with a default so that an empty config file stays valid.
 */
export const authConfigShape = {};
