import type { Counter } from './counter.js';

/*
 * The dimensions of reference §4.2 and their flat, ordered form of §4.3: the rows of sql_aggregate and the
 * paths of the Mongo `$inc` builder both come from `DimensionEntry` lists.
 */

/** Dimensions keyed by one value. */
export const FLAT_DIMENSIONS = ['apiid', 'errors', 'versions', 'apikeys', 'oauthids', 'geo', 'tags', 'endpoints', 'apiendpoints'] as const;
export type FlatDimension = (typeof FLAT_DIMENSIONS)[number];

/** Dimensions keyed by an API key or OAuth id, then by an endpoint hash. */
export const NESTED_DIMENSIONS = ['keyendpoints', 'oauthendpoints'] as const;
export type NestedDimension = (typeof NESTED_DIMENSIONS)[number];

export type Dimension = FlatDimension | NestedDimension;

/** §4.3 order; the total comes last, under the name "" and the value `total`. */
export const DIMENSION_ORDER: readonly Dimension[] = [
  'apiid', 'errors', 'versions', 'apikeys', 'oauthids', 'geo', 'tags', 'endpoints',
  'keyendpoints', 'oauthendpoints', 'apiendpoints',
];

export const TOTAL_DIMENSION = '';
export const TOTAL_VALUE = 'total';

export interface DimensionEntry<C extends Counter = Counter> {
  /** `apiid`, `errors`, …, or "" for the total. */
  readonly dimension: string;
  /** The map key; `<outer>.<inner>` for nested dimensions; `total` for the total. */
  readonly value: string;
  readonly counter: C;
}

/** Names `ignore_aggregations` accepts (Tyk's Go field names and the stored names). */
const IGNORABLE: Readonly<Record<string, Dimension>> = {
  APIID: 'apiid', apiid: 'apiid',
  Errors: 'errors', errors: 'errors',
  Versions: 'versions', versions: 'versions',
  APIKeys: 'apikeys', apikeys: 'apikeys',
  OauthIDs: 'oauthids', oauthids: 'oauthids',
  Geo: 'geo', geo: 'geo',
  Tags: 'tags', tags: 'tags',
  Endpoints: 'endpoints', endpoints: 'endpoints',
  KeyEndpoint: 'keyendpoints', keyendpoints: 'keyendpoints',
  OauthEndpoint: 'oauthendpoints', oauthendpoints: 'oauthendpoints',
  ApiEndpoint: 'apiendpoints', apiendpoints: 'apiendpoints',
};

export interface IgnoredDimensions {
  readonly dimensions: ReadonlySet<Dimension>;
  /** Names that are not dimensions (Tyk logs a warning and goes on); `total` cannot be dropped. */
  readonly unknown: readonly string[];
}

export function parseIgnoredDimensions(names: readonly string[]): IgnoredDimensions {
  const dimensions = new Set<Dimension>();
  const unknown: string[] = [];
  for (const name of names) {
    const dimension = Object.hasOwn(IGNORABLE, name) ? IGNORABLE[name] : undefined;
    if (dimension) dimensions.add(dimension);
    else unknown.push(name);
  }
  return { dimensions, unknown };
}
