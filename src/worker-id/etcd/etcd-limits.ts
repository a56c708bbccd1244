/** Default key prefix under which worker IDs and reservations live in etcd (SNOWFLAKE_ETCD_PREFIX). */
export const DEFAULT_ETCD_PREFIX = '/snowflake/';

/** Default worker-ID lease TTL in seconds (SNOWFLAKE_ETCD_LEASE_TTL_S); etcd grants 1 s at least. */
export const DEFAULT_LEASE_TTL_SECONDS = 10;

/** Longest lease TTL accepted, in seconds (one day): longer ones keep a dead instance's ID for too long. */
export const MAX_LEASE_TTL_SECONDS = 86_400;
