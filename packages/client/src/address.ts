/**
 * The address forms the client accepts, in words, for error messages: `host:port`, with an IPv6 host in
 * brackets and a port from 1 to 65535.
 */
export const ADDRESS_FORMS = 'host:port (IPv6 as [::1]:50051, port 1 to 65535)';

const ADDRESS_RE = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/**
 * True for an address the client accepts (see {@link ADDRESS_FORMS}). Pure and free of grpc-js, so that
 * the CLI checks its arguments without loading it.
 */
export function isAddress(text: string): boolean {
  const m = ADDRESS_RE.exec(text);
  return m !== null && Number(m[2]) >= 1 && Number(m[2]) <= 65_535;
}
