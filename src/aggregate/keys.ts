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

/** Key of `apiendpoints`: lower-case hex of the UTF-8 bytes of `apiid:version:path`. */
export function apiEndpointKey(apiId: string, apiVersion: string, path: string): string {
  return Buffer.from(`${apiId}:${apiVersion}:${path}`, 'utf8').toString('hex');
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
