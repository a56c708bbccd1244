import { layoutProblem, type Layout, type LayoutFieldNames } from '@snowflake-id/client/contract';
import { InvalidLayoutError } from './errors';

// The layout, its defaults and its rules are part of the contract: clients decode offline with them and
// check a layout by the same rules.
export {
  DEFAULT_EPOCH_MS,
  DEFAULT_LAYOUT,
  fieldMax,
  layoutEndMs,
  MAX_LAYOUT_END_MS,
  MAX_TIME_UNIT_MS,
  PAYLOAD_BITS,
  type Layout,
  type LayoutFieldNames,
} from '@snowflake-id/client/contract';

/**
 * Throws {@link InvalidLayoutError} with the contract's {@link layoutProblem} message unless every width
 * is in range, the widths sum to 63, the epoch and time unit are non-negative integers in range, and the
 * layout ends before year 10000. Messages name fields by `names` (default: the property names).
 */
export function checkLayout(layout: Layout, names?: LayoutFieldNames): void {
  const problem = layoutProblem(layout, names);
  if (problem !== undefined) throw new InvalidLayoutError(problem);
}
