// Pure: Dockerfile text → stages of instructions. dockerfile-ast does the lexing (continuations, the
// escape directive, comments, heredocs, flags); this module checks what the classic builder checks and
// names the line of every error ("Dockerfile:7: unknown instruction: RUNN").
import { type Instruction as AstInstruction, DockerfileParser } from 'dockerfile-ast';
import { ShoalError } from '../../common/errors.js';

export class DockerfileError extends ShoalError {
  constructor(file: string, line: number, message: string) {
    super('invalid_argument', `${file}:${line}: ${message}`, { field: 'dockerfile' });
    this.name = 'DockerfileError';
  }
}

export const KEYWORDS = [
  'ADD',
  'ARG',
  'CMD',
  'COPY',
  'ENTRYPOINT',
  'ENV',
  'EXPOSE',
  'FROM',
  'HEALTHCHECK',
  'LABEL',
  'MAINTAINER',
  'ONBUILD',
  'RUN',
  'SHELL',
  'STOPSIGNAL',
  'USER',
  'VOLUME',
  'WORKDIR',
] as const;
export type Keyword = (typeof KEYWORDS)[number];

/** Flags each instruction accepts (anything else is an error naming the line). */
const FLAGS: Partial<Record<Keyword, string[]>> = {
  FROM: ['platform'],
  COPY: ['from', 'chown', 'chmod'],
  ADD: ['chown', 'chmod'],
  RUN: ['network'],
  HEALTHCHECK: ['interval', 'timeout', 'start-period', 'start-interval', 'retries'],
};

export interface Instruction {
  /** 1-based line of the keyword */
  line: number;
  keyword: Keyword;
  /** the arguments as written (continuations joined, flags removed) */
  args: string;
  flags: Record<string, string>;
  /** exec (JSON array) form, when the arguments are one */
  json?: string[];
  /** `RUN <<EOF` … `EOF`: the script */
  heredoc?: string;
  /** the instruction as docker prints it in `Step n/m : …` */
  text: string;
}

export interface Stage {
  index: number;
  /** lower-cased `AS name` */
  name?: string;
  /** the base as written (ARGs not yet expanded) */
  base: string;
  from: Instruction;
  instructions: Instruction[];
}

export interface Dockerfile {
  file: string;
  /** ARGs before the first FROM: they may be used in FROM lines only */
  metaArgs: Instruction[];
  stages: Stage[];
  /** every instruction in order, FROMs and meta ARGs included (for `Step n/m`) */
  all: Instruction[];
  /** the escape character (`# escape=` directive; `\\` by default) */
  escape: string;
}

function flagsOf(file: string, line: number, kw: Keyword, i: AstInstruction): Record<string, string> {
  const getFlags = (i as unknown as { getFlags?: () => { getName(): string; getValue(): string | null }[] })
    .getFlags;
  const list = typeof getFlags === 'function' ? getFlags.call(i) : [];
  const allowed = FLAGS[kw] ?? [];
  const out: Record<string, string> = {};
  for (const f of list) {
    const name = f.getName();
    if (!allowed.includes(name)) throw new DockerfileError(file, line, `unknown flag: --${name}`);
    out[name] = f.getValue() ?? '';
  }
  return out;
}

function jsonForm(args: string): string[] | undefined {
  const t = args.trim();
  if (!t.startsWith('[')) return undefined;
  try {
    const v = JSON.parse(t) as unknown;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  } catch {
    /* not JSON: the shell form, as docker */
  }
  return undefined;
}

/** `<<[-]EOF` (quoted or not) then the body up to a line holding only the delimiter. */
function heredocOf(file: string, line: number, args: string): string | undefined {
  const m = /^<<(-?)(["']?)([A-Za-z_][A-Za-z0-9_]*)\2[ \t]*(.*)$/m.exec(args.split('\n')[0]);
  if (!m) return undefined;
  if (m[4].trim()) throw new DockerfileError(file, line, 'a heredoc after a command is not supported');
  const lines = args.split('\n').slice(1);
  const end = lines.findIndex((l) => (m[1] ? l.replace(/^\t+/, '') : l) === m[3]);
  if (end < 0) throw new DockerfileError(file, line, `heredoc: no closing "${m[3]}"`);
  return lines
    .slice(0, end)
    .map((l) => (m[1] ? l.replace(/^\t+/, '') : l))
    .join('\n');
}

export function parseDockerfile(text: string, file = 'Dockerfile'): Dockerfile {
  if (Buffer.byteLength(text) > 4 << 20) throw new DockerfileError(file, 1, 'the Dockerfile is over 4 MiB');
  const ast = DockerfileParser.parse(text);
  const metaArgs: Instruction[] = [];
  const stages: Stage[] = [];
  const all: Instruction[] = [];
  const names = new Set<string>();
  for (const i of ast.getInstructions()) {
    const line = i.getRange().start.line + 1;
    const word = i.getInstruction();
    const kw = word.toUpperCase() as Keyword;
    if (!KEYWORDS.includes(kw)) throw new DockerfileError(file, line, `unknown instruction: ${word}`);
    const flags = flagsOf(file, line, kw, i);
    const args = (i.getArgumentsContent() ?? '').trim();
    const ins: Instruction = {
      line,
      keyword: kw,
      args,
      flags,
      text: `${kw}${i
        .toString()
        .slice(word.length)
        .replace(/\s*\r?\n\s*/g, ' ')
        .trimEnd()}`,
    };
    if (kw === 'RUN' && args.startsWith('<<')) {
      ins.heredoc = heredocOf(file, line, args);
      ins.text = `RUN ${args.split('\n')[0]}`;
    } else if (['RUN', 'CMD', 'ENTRYPOINT', 'SHELL', 'HEALTHCHECK', 'COPY', 'ADD', 'VOLUME'].includes(kw))
      ins.json = jsonForm(kw === 'HEALTHCHECK' ? args.replace(/^CMD\s+/i, '') : args);
    all.push(ins);
    if (kw === 'FROM') {
      const words = args.split(/\s+/).filter(Boolean);
      if (words.length !== 1 && !(words.length === 3 && words[1].toUpperCase() === 'AS'))
        throw new DockerfileError(file, line, 'FROM requires either one or three arguments');
      const name = words[2]?.toLowerCase();
      if (name !== undefined) {
        if (!/^[a-z][a-z0-9-_.]*$/.test(name))
          throw new DockerfileError(file, line, `invalid name for build stage: "${words[2]}"`);
        if (names.has(name))
          throw new DockerfileError(file, line, `duplicate name for build stage: "${name}"`);
        names.add(name);
      }
      stages.push({ index: stages.length, name, base: words[0], from: ins, instructions: [] });
      continue;
    }
    if (stages.length === 0) {
      if (kw !== 'ARG')
        throw new DockerfileError(file, line, `${kw} before the first FROM (only ARG may come first)`);
      metaArgs.push(ins);
      continue;
    }
    if (!args && kw !== 'RUN' && kw !== 'CMD' && kw !== 'ENTRYPOINT')
      throw new DockerfileError(file, line, `${kw} requires at least one argument`);
    if (kw === 'RUN' && !args) throw new DockerfileError(file, line, 'RUN requires at least one argument');
    stages[stages.length - 1].instructions.push(ins);
  }
  if (stages.length === 0)
    throw new DockerfileError(file, 1, 'no build stage in the Dockerfile (FROM is missing)');
  return { file, metaArgs, stages, all, escape: ast.getEscapeCharacter() };
}
