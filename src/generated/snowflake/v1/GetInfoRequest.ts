// Original file: proto/snowflake/v1/id_generator.proto


/**
 * No parameters.
 */
export interface GetInfoRequest {
}

/**
 * No parameters.
 */
export interface GetInfoRequest__Output {
}
