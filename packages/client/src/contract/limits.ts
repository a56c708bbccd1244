/** Largest BatchIds count any server accepts (its SNOWFLAKE_MAX_BATCH_SIZE is 1 to this; default 10,000). */
export const MAX_BATCH_SIZE_LIMIT = 100_000;
