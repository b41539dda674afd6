/**
 * Numbers as people write them in decimal, and nothing else. `Number()` also takes '', ' ',
 * '0x5', '0b1', '1_000'-less oddities and 'Infinity', so that `--way 0x5` trained 5-way and an
 * empty cell read as 0; every number read from a flag, a file or the environment goes through here.
 */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const INTEGER = /^[+-]?\d+$/;

/** The value of a decimal number (`1`, `-0.5`, `1e-3`), or NaN for anything else. */
export function parseDecimal(text: string | undefined): number {
  return text !== undefined && DECIMAL.test(text) ? Number(text) : NaN;
}

/** The value of a decimal integer (`12`, `-3`; not `1e3`, `1.0`), or NaN for anything else. */
export function parseInteger(text: string | undefined): number {
  return text !== undefined && INTEGER.test(text) ? Number(text) : NaN;
}
