/**
 * Folder of the `.proto` files, relative to the package root: the client package ships it there, and
 * the service repository keeps the canonical copy at its own root. Each loader resolves it once.
 */
export const PROTO_DIR = 'proto';

/** The contract file, relative to {@link PROTO_DIR}. */
export const ID_GENERATOR_PROTO = 'snowflake/v1/id_generator.proto';

/**
 * proto-loader options every side decodes with (server, client, tests, `proto-loader-gen-types`): field
 * names as in the .proto, 64-bit integers as decimal strings (never a JS number), defaults filled in.
 */
export const PROTO_LOADER_OPTIONS = Object.freeze({
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
