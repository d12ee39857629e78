// tsc compiles only TypeScript; the Lua, SQL and proto files that code loads at run time sit next to it
// and are copied into dist/ at the same relative place.
import { cpSync, readdirSync, statSync } from 'node:fs';
import { join, extname } from 'node:path';

const ASSET_EXTENSIONS = new Set(['.lua', '.sql', '.proto']);

function copyAssets(dir) {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) copyAssets(path);
    else if (ASSET_EXTENSIONS.has(extname(entry))) cpSync(path, join('dist', path));
  }
}

for (const root of ['src', 'sinks']) copyAssets(root);
