import * as protoLoader from '@grpc/proto-loader';

// google.rpc.ErrorInfo as published (googleapis google/rpc/error_details.proto); the wire codec of the
// status details is the contract's (encodeRichStatus).
const ERROR_INFO_JSON = {
  nested: {
    google: {
      nested: {
        rpc: {
          nested: {
            ErrorInfo: {
              fields: {
                reason: { type: 'string', id: 1 },
                domain: { type: 'string', id: 2 },
                metadata: { keyType: 'string', type: 'string', id: 3 },
              },
            },
          },
        },
      },
    },
  },
};

/**
 * A package definition describing `google.rpc.ErrorInfo`, for the reflection service: tools that decode
 * status details through reflection (grpcurl) can then print the ErrorInfo detail as JSON.
 */
export function errorInfoDefinition(): protoLoader.PackageDefinition {
  return protoLoader.fromJSON(ERROR_INFO_JSON, { keepCase: true });
}
