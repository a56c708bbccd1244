import { createIdClient, type IdClient } from '../id-client';
import type { CallCommand, Connection } from './args';
import { channelSettings } from './channel';
import { describeFailure } from './failure';
import type { CommandIo } from './io';
import { decodeRecord, formatRecords, infoRecord } from './output';
import { EXIT } from './usage';

/**
 * Runs next, batch, decode or info against `connection` and prints the result: IDs bare in text (one per
 * line, for shell scripts), records as `key: value`; JSON with `json`. Returns the exit code: 0, or 1
 * with one line on stderr when the call failed.
 */
export async function runCall(
  command: CallCommand,
  connection: Connection,
  json: boolean,
  io: CommandIo,
): Promise<number> {
  const client = createIdClient({
    addresses: connection.addresses,
    timeoutMs: connection.timeoutMs,
    attemptTimeoutMs: connection.timeoutMs,
    // One ID per `next`, stamped when asked for: a buffer would fetch IDs only to drop them.
    prefetch: { maxAgeMs: 0 },
    ...channelSettings(connection.tls),
  });
  try {
    io.out(await call(client, command, json));
    return EXIT.ok;
  } catch (err) {
    io.err(`snowflake: ${describeFailure(err)}\n`);
    return EXIT.callFailed;
  } finally {
    await client.close();
  }
}

async function call(client: IdClient, command: CallCommand, json: boolean): Promise<string> {
  switch (command.name) {
    case 'next': {
      const id = (await client.nextId()).toString();
      return json ? `${JSON.stringify({ id })}\n` : `${id}\n`;
    }
    case 'batch': {
      const ids = (await client.batch(command.count)).map((id) => id.toString());
      return json ? `${JSON.stringify({ ids })}\n` : `${ids.join('\n')}\n`;
    }
    case 'decode':
      return formatRecords([decodeRecord(await client.decodeRemote(command.id))], json);
    case 'info':
      return formatRecords([infoRecord(await client.info())], json);
  }
}
