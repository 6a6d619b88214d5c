// Module resolve hook for tests: the package's own name (`pushserver`,
// `pushserver/express`, ...) resolves to the TypeScript sources instead of dist/, so
// the examples run against the code under test (and share one settings instance with
// the test) without a build. tsx, further down the chain, resolves and loads the .ts. Register it before importing an example:
//   register('./support/source-exports.mjs', import.meta.url)
const ROOT = new URL('../../../', import.meta.url);
const SUBPATHS = new Set(['express', 'nunjucks', 'handlebars', 'eta', 'server']);

export async function resolve(specifier, context, nextResolve) {
  if (specifier === 'pushserver') {
    return nextResolve(new URL('src/index.ts', ROOT).href, context);
  }
  const subpath = specifier.startsWith('pushserver/') ? specifier.slice('pushserver/'.length) : '';
  if (SUBPATHS.has(subpath)) {
    return nextResolve(new URL(`src/${subpath}/index.ts`, ROOT).href, context);
  }
  return nextResolve(specifier, context);
}
