/**
 * The dashboard's static files: index.html, app.js and app.css from src/server/dashboard (copied to
 * dist/dashboard by scripts/bundle-cli.ts), uPlot's browser build and stylesheet from the uplot
 * package (copied beside them, so a built CLI serves them offline; no CDN). Read once at start.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Asset {
  readonly type: string;
  readonly body: Buffer;
}

/** URL path → file name and type. Only these are served. */
const FILES: Readonly<Record<string, { readonly file: string; readonly type: string; readonly uplot?: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/assets/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/assets/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
  '/assets/uPlot.iife.min.js': { file: 'uPlot.iife.min.js', type: 'text/javascript; charset=utf-8', uplot: 'uplot/dist/uPlot.iife.min.js' },
  '/assets/uPlot.min.css': { file: 'uPlot.min.css', type: 'text/css; charset=utf-8', uplot: 'uplot/dist/uPlot.min.css' },
};

/** The directory of the dashboard files: beside the bundled CLI (dist/dashboard) or in the source tree. */
export function dashboardDir(): string {
  return fileURLToPath(new URL('./dashboard/', import.meta.url));
}

/** Loads the files; a missing one is left out (the server answers 503 for it, naming the fix). */
export function loadAssets(dir: string = dashboardDir()): Map<string, Asset> {
  const require = createRequire(import.meta.url);
  const assets = new Map<string, Asset>();
  for (const [path, spec] of Object.entries(FILES)) {
    let file = join(dir, spec.file);
    if (!existsSync(file) && spec.uplot !== undefined) {
      try {
        file = require.resolve(spec.uplot);
      } catch {
        continue;
      }
    }
    if (existsSync(file)) assets.set(path, { type: spec.type, body: readFileSync(file) });
  }
  return assets;
}

export const ASSET_PATHS: readonly string[] = Object.keys(FILES);
