// Lints `import '<specifier>';` as the text of repository files with the repository's ESLint config
// (the ESLint Node API, outside jest: jest's VM cannot load the ES module config), and prints, per case,
// the no-restricted-imports messages as JSON. Usage: node lint-imports.mjs '[["src/x.ts","zod"],…]'
import { ESLint } from 'eslint';
import { join } from 'node:path';
import { argv, stdout } from 'node:process';

const root = join(import.meta.dirname, '../..');
const eslint = new ESLint({ cwd: root });
const reports = [];
for (const [file, specifier] of JSON.parse(argv[2] ?? '[]')) {
  const [result] = await eslint.lintText(`import '${specifier}';\n`, { filePath: join(root, file) });
  reports.push(result.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message));
}
stdout.write(JSON.stringify(reports));
