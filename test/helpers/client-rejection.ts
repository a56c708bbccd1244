import { IdClientError } from '../../packages/client/src/errors';

/** The IdClientError `p` rejects with; throws if it resolves or rejects with anything else. */
export async function rejection(p: Promise<unknown>): Promise<IdClientError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof IdClientError) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

/** The IdClientError `fn` throws; throws if it returns or throws anything else. */
export function thrown(fn: () => unknown): IdClientError {
  try {
    fn();
  } catch (err) {
    if (err instanceof IdClientError) return err;
    throw err;
  }
  throw new Error('expected an IdClientError');
}
