import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Reads a text file that ships next to the module at `moduleUrl` (Lua, SQL, proto). */
export function readAsset(moduleUrl: string, relativePath: string): string {
  return readFileSync(join(dirname(fileURLToPath(moduleUrl)), relativePath), 'utf8');
}

/** The package root (the folder holding package.json), from source or from dist/. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      readFileSync(join(dir, 'package.json'));
      return dir;
    } catch {
      const parent = dirname(dir);
      if (parent === dir) throw new Error('package.json not found above ' + fileURLToPath(import.meta.url));
      dir = parent;
    }
  }
}
