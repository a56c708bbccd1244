import * as grpc from '@grpc/grpc-js';
import type { TlsSettings } from './tls-files';

/** grpc-js credentials and channel options for the CLI's TLS settings (plaintext when undefined). */
export function channelSettings(tls: TlsSettings | undefined): {
  credentials: grpc.ChannelCredentials;
  channelOptions: grpc.ChannelOptions;
} {
  if (tls === undefined) return { credentials: grpc.credentials.createInsecure(), channelOptions: {} };
  return {
    credentials: grpc.credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null),
    channelOptions: tls.serverName === undefined ? {} : { 'grpc.ssl_target_name_override': tls.serverName },
  };
}
