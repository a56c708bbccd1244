/**
 * The snowflake ID contract, shared by the service and its clients: service and method names, error
 * codes and their wire form, limits, the ID layout with an offline compose/decompose, the packed fixed64
 * codec and the proto file's place. A leaf: it imports nothing outside this folder and no package.
 */
export { SERVICE_NAME, type MethodName } from './service';
export { ID_GENERATOR_PROTO, PROTO_DIR, PROTO_LOADER_OPTIONS } from './proto';
export { MAX_BATCH_SIZE_LIMIT } from './limits';
export { ERROR_CODE_METADATA_KEY, ERROR_DOMAIN, STATUS_DETAILS_METADATA_KEY, type ErrorCode } from './errors';
export {
  decodeRichStatus,
  encodeRichStatus,
  ERROR_INFO_TYPE_URL,
  type ErrorInfo,
  type RichStatus,
} from './rich-status';
export {
  DEFAULT_EPOCH_MS,
  DEFAULT_LAYOUT,
  fieldMax,
  layoutEndMs,
  layoutProblem,
  MAX_LAYOUT_END_MS,
  MAX_TIME_UNIT_MS,
  PAYLOAD_BITS,
  type Layout,
  type LayoutFieldNames,
} from './layout';
export {
  composeId,
  decomposeId,
  fieldProblem,
  MAX_ID,
  type DecodedId,
  type IdFields,
  type NodeId,
} from './id-fields';
export {
  batchIdsResponseBytes,
  decodeBatchIdsResponse,
  encodeNextIdResponse,
  packedIdsMessage,
  type PackedIdsMessage,
} from './packed-ids';
