// The package as npm publishes it, built from the working tree without touching its
// dist/ (other runs may be using it): compiled into a folder of its own, then packed.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;

/** The project's package.json. */
export const packageJson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/**
 * Compile src/ into `dir`/dist and copy the rest of the package's `files` (bin, static,
 * templates) and package.json beside it: the layout `npm install` leaves in
 * node_modules/pushserver.
 *
 * @param dir an empty or missing folder
 * @example stagePackage(join(app, 'node_modules', 'pushserver'));
 */
export function stagePackage(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  const build = spawnSync(
    process.execPath,
    [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', join(dir, 'dist')],
    { encoding: 'utf8' },
  );
  if (build.status !== 0) {
    throw new Error(`tsc -p tsconfig.build.json failed:\n${build.stdout}${build.stderr}`);
  }
  for (const entry of ['package.json', 'bin', 'static', 'templates']) {
    cpSync(join(root, entry), join(dir, entry), { recursive: true });
  }
}

/**
 * Stage the package in `dir`/package and `npm pack` it into `dir`, as a user would get
 * it from the registry (lifecycle scripts off: the staged dist/ is the build).
 *
 * @param dir an empty folder
 * @returns the tarball's path
 * @example const tarball = packPackage(mkdtempSync(join(tmpdir(), 'pushserver-pack-')));
 */
export function packPackage(dir: string): string {
  const staged = join(dir, 'package');
  stagePackage(staged);
  const out = execFileSync(
    'npm',
    ['pack', '--ignore-scripts', '--json', '--pack-destination', dir],
    { cwd: staged, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 },
  );
  const [{ filename }] = JSON.parse(out) as Array<{ filename: string }>;
  return join(dir, filename);
}
