import { readAsset } from '../../src/assets.js';

/** Loads a named statement from a sink's `sql/` folder; one file per statement, named for what it does. */
export function sqlStatement(moduleUrl: string, name: string): string {
  return readAsset(moduleUrl, `sql/${name}.sql`).trim();
}

/** Fills a statement's identifier placeholders ($TABLE, $COLUMNS, …), which bind parameters cannot carry. Values come quoted. */
export function fillPlaceholders(statement: string, values: Readonly<Record<string, string | undefined>>): string {
  return statement.replace(/\$[A-Z]+\b/g, (token) => values[token] ?? token);
}
