/*
 * How Tyk turns record fields into aggregate keys (reference §4.2). These strings are ids in stored
 * documents and rows that the Tyk Dashboard reads, so they must match byte for byte.
 */

/** Tyk's doHash: standard base64 without the `=` padding (not a hash at all). */
export function unpaddedBase64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64').replace(/=+$/, '');
}

/** Key of the `versions` dimension. */
export function versionKey(apiId: string, apiVersion: string): string {
  return unpaddedBase64(`${apiId}:${apiVersion}`);
}

/** Inner key of `keyendpoints` and `oauthendpoints`. */
export function endpointHash(apiId: string, path: string): string {
  return unpaddedBase64(`${apiId}:${path}`);
}

/** Key of `endpoints`: MongoDB keys cannot hold `.`, so Tyk writes the 4 characters `\u2e` instead. */
export function endpointKey(path: string): string {
  return path.replaceAll('.', '\\u2e');
}

function utf8Hex(text: string): string {
  return Buffer.from(text, 'utf8').toString('hex');
}

/** Key of `apiendpoints`: lower-case hex of the UTF-8 bytes of `apiid:version:path`. */
export function apiEndpointKey(apiId: string, apiVersion: string, path: string): string {
  return utf8Hex(`${apiId}:${apiVersion}:${path}`);
}

/** Go's unicode.IsSpace set, which differs from String.prototype.trim's (U+0085 in, U+FEFF out). */
const GO_SPACE = '\\t\\n\\v\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000';
const SURROUNDING_GO_SPACE = new RegExp(`^[${GO_SPACE}]+|[${GO_SPACE}]+$`, 'g');

/** Tyk's TrimTag: surrounding white space trimmed first (Go's strings.TrimSpace), then every `.` removed. */
export function trimTag(tag: string): string {
  return tag.replace(SURROUNDING_GO_SPACE, '').replaceAll('.', '');
}

/** The gateway tags every request with `key-<hash>`; those tags are never aggregated. */
const ALWAYS_IGNORED_TAG_PREFIX = 'key-';

/** Prefixes are matched against the raw tag, before trimming, as Tyk does. */
export function isIgnoredTag(rawTag: string, ignoredPrefixes: readonly string[]): boolean {
  if (rawTag.startsWith(ALWAYS_IGNORED_TAG_PREFIX)) return true;
  return ignoredPrefixes.some((prefix) => rawTag.startsWith(prefix));
}

/** One API's keys, by version, path, or both. */
interface ApiKeys {
  readonly versionKeys: Map<string, string>;
  readonly endpointHashes: Map<string, string>;
  readonly apiEndpointKeys: Map<string, Map<string, string>>;
}

function memberOf<V>(map: Map<string, V>, key: string, create: () => V): V {
  let value = map.get(key);
  if (value === undefined) map.set(key, (value = create()));
  return value;
}

/**
 * The keys above for one aggregation, each computed once per distinct input. A batch repeats a few APIs,
 * versions, paths and tags many times, and each key costs a UTF-8 encode and a base64 or hex pass, or a
 * regular expression: an eighth of an encode thread's time for an aggregate batch, by profile. Keyed by the
 * record's own strings, nested, rather than by a joined string: joining and hashing a new string per
 * lookup cost as much as the keys themselves. Memory grows with the distinct inputs of the aggregation,
 * so it lives as long as one batch's.
 */
export class AggregateKeys {
  private readonly apis = new Map<string, ApiKeys>();
  private readonly endpointKeys = new Map<string, string>();
  private readonly tags = new Map<string, string>();

  constructor(private readonly ignoredTagPrefixes: readonly string[]) {}

  private api(apiId: string): ApiKeys {
    return memberOf(this.apis, apiId, () => ({ versionKeys: new Map(), endpointHashes: new Map(), apiEndpointKeys: new Map() }));
  }

  /** As versionKey. */
  versionKey(apiId: string, apiVersion: string): string {
    const known = this.api(apiId).versionKeys;
    let key = known.get(apiVersion);
    if (key === undefined) known.set(apiVersion, (key = versionKey(apiId, apiVersion)));
    return key;
  }

  /** As endpointHash. */
  endpointHash(apiId: string, path: string): string {
    const known = this.api(apiId).endpointHashes;
    let key = known.get(path);
    if (key === undefined) known.set(path, (key = endpointHash(apiId, path)));
    return key;
  }

  /** As apiEndpointKey. */
  apiEndpointKey(apiId: string, apiVersion: string, path: string): string {
    const known = memberOf(this.api(apiId).apiEndpointKeys, apiVersion, () => new Map<string, string>());
    let key = known.get(path);
    if (key === undefined) known.set(path, (key = apiEndpointKey(apiId, apiVersion, path)));
    return key;
  }

  /** As endpointKey. */
  endpointKey(path: string): string {
    let key = this.endpointKeys.get(path);
    if (key === undefined) this.endpointKeys.set(path, (key = endpointKey(path)));
    return key;
  }

  /** The tag as aggregated (trimTag), or "" for a tag that is not aggregated (isIgnoredTag, or nothing left). */
  tag(rawTag: string): string {
    // Checked before the lookup: every request carries a `key-` tag of its own key, which would fill the cache.
    if (isIgnoredTag(rawTag, this.ignoredTagPrefixes)) return '';
    let tag = this.tags.get(rawTag);
    if (tag === undefined) this.tags.set(rawTag, (tag = trimTag(rawTag)));
    return tag;
  }
}
