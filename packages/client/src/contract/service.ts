/** Fully qualified service name, as used by health checks and reflection. */
export const SERVICE_NAME = 'snowflake.v1.IdGenerator';

/** The methods of {@link SERVICE_NAME}; each is called at `/snowflake.v1.IdGenerator/<name>`. */
export type MethodName = 'NextId' | 'BatchIds' | 'DecodeId' | 'GetInfo';
