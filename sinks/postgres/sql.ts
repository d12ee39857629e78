import { readAsset } from '../../src/assets.js';

/** Loads a named statement from a sink's `sql/` folder; one file per statement, named for what it does. */
export function sqlStatement(moduleUrl: string, name: string): string {
  return readAsset(moduleUrl, `sql/${name}.sql`).trim();
}
