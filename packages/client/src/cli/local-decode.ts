import type { Layout } from '../contract';
import { decode } from '../decode';
import type { CommandIo } from './io';
import { decodeRecord, formatRecords } from './output';
import { EXIT } from './usage';

/**
 * `decode --local`: the fields of `id` under `layout`, computed here by the client's offline decode.
 * Exit 2 with one line when the layout puts the ID outside JavaScript dates (nothing to print).
 */
export function runLocalDecode(id: bigint, layout: Layout, json: boolean, io: CommandIo): number {
  let text: string;
  try {
    text = formatRecords([decodeRecord(decode(id, layout))], json);
  } catch (err) {
    io.err(`snowflake: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT.usage;
  }
  io.out(text);
  return EXIT.ok;
}
