// Where the recorded Docker API traces are: `shared/docker-api/traces` beside the repository (as CI lays it
// out), else the developers' shared folder.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const beside = path.resolve(repo, '../shared/docker-api/traces');

export const TRACES = existsSync(beside) ? beside : '/work/shared/docker-api/traces';
