// Loads the radcbir core into a tslab notebook.
//
// tslab compiles each cell to CommonJS and runs it with vm.runInThisContext, where a dynamic
// `import()` has no loader ("A dynamic import callback was not specified"), and its type checker
// only sees files under the notebook's folder. The core is ESM TypeScript run through tsx. So this
// plain CommonJS file (loaded with an ordinary `require`, which can `import()`) registers tsx's
// ESM loader once for the kernel and imports the core's public API by absolute URL (one module graph, no namespaced loader).
//
// Use in the first code cell of a notebook:
//   const { W, nb, F, ROOT } = await require('./_setup.cjs').load();
// W = the public API (src/workbench/index.ts), the only module a notebook loads; nb = its notebook
// helpers (W.notebook), F = its figures (W.figures), ROOT = the project folder.
'use strict';
const { join, resolve } = require('node:path');
const { pathToFileURL } = require('node:url');

const ROOT = resolve(__dirname, '..');
let loading = null;

function load() {
  if (!loading) {
    loading = (async () => {
      if (!globalThis.__radcbirTsxRegistered) {
        // the ESM build: the CommonJS build of tsx/esm/api resolves its loader path wrongly here
        const { register } = await import('tsx/esm/api');
        register();
        globalThis.__radcbirTsxRegistered = true;
      }
      const url = (p) => pathToFileURL(join(ROOT, p)).href;
      const W = await import(url('src/workbench/index.ts'));
      return { W, nb: W.notebook, F: W.figures, ROOT };
    })();
    loading.catch(() => {
      loading = null;
    });
  }
  return loading;
}

module.exports = { load, ROOT };
