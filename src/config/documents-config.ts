/**
 * Top-level config keys for documents, vector stores and assistants. Spread into the config schema;
 * add keys here, each with a default so that an empty config file stays valid.
 */
export const documentsConfigShape = {};
