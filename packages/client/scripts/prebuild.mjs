// Before each build: an empty dist/ (nothing stale reaches the tarball) and the contract's proto copied
// from the repository's canonical proto/ into the package, which ships it (gitignored here).
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const pkg = join(import.meta.dirname, '..');
rmSync(join(pkg, 'dist'), { recursive: true, force: true });
rmSync(join(pkg, 'proto'), { recursive: true, force: true });
cpSync(join(pkg, '../../proto'), join(pkg, 'proto'), { recursive: true });
