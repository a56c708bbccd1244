// Original file: proto/snowflake/v1/id_generator.proto


/**
 * No parameters.
 */
export interface NextIdRequest {
}

/**
 * No parameters.
 */
export interface NextIdRequest__Output {
}
