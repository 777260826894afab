import { describe, expect, it } from 'vitest';
import { DockerfileError, parseDockerfile } from './dockerfile.js';
import { componentRegExp, hasGlob } from './glob.js';
import { applyMeta, parseArgDecls, parseDurationNs } from './instructions.js';
import { expandWord, expandWords, parseKeyValues, splitRaw } from './words.js';

const err = (text: string, file?: string) => {
  try {
    parseDockerfile(text, file);
  } catch (e) {
    expect(e).toBeInstanceOf(DockerfileError);
    return (e as Error).message;
  }
  throw new Error('parsed');
};

describe('parseDockerfile', () => {
  it('splits stages, keeps meta ARGs, joins continuations, reads flags, exec and heredoc forms', () => {
    const df = parseDockerfile(
      [
        'ARG BASE=busybox',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: Dockerfile variables, not templates
        'FROM ${BASE} AS Build',
        'RUN echo a \\',
        '  && echo b',
        'COPY --from=build --chown=1:2 a b /c/',
        'CMD ["sh", "-c", "echo hi"]',
        'run <<EOF',
        'echo one',
        'echo two',
        'EOF',
        'FROM scratch',
        'HEALTHCHECK --interval=5s CMD ["true"]',
      ].join('\n'),
    );
    expect(df.metaArgs.map((i) => i.args)).toEqual(['BASE=busybox']);
    expect(df.stages.map((s) => [s.name, s.base])).toEqual([
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Dockerfile variables, not templates
      ['build', '${BASE}'],
      [undefined, 'scratch'],
    ]);
    const [run, copy, cmd, heredoc] = df.stages[0].instructions;
    expect(run.line).toBe(3);
    expect(run.args).toBe('echo a   && echo b');
    expect(copy.flags).toEqual({ from: 'build', chown: '1:2' });
    expect(copy.args).toBe('a b /c/');
    expect(copy.text).toBe('COPY --from=build --chown=1:2 a b /c/');
    expect(cmd.json).toEqual(['sh', '-c', 'echo hi']);
    expect(heredoc.keyword).toBe('RUN');
    expect(heredoc.heredoc).toBe('echo one\necho two');
    expect(df.stages[1].instructions[0].json).toEqual(['true']);
    expect(df.all).toHaveLength(8);
  });

  it('reads the escape directive', () => {
    const df = parseDockerfile('# escape=`\nFROM scratch\nENV P=C:\\dir `\n  Q=2\n');
    expect(df.escape).toBe('`');
    const env = df.stages[0].instructions[0];
    expect(applyMeta({}, env, new Map(), df.escape).config.Env).toEqual(['P=C:\\dir', 'Q=2']);
  });

  it('names the line of every error', () => {
    expect(err('FROM busybox\n\n# c\nRUNN x\n')).toBe('Dockerfile:4: unknown instruction: RUNN');
    expect(err('FROM busybox\nCOPY --nope=1 a b\n', 'app.Dockerfile')).toBe(
      'app.Dockerfile:2: unknown flag: --nope',
    );
    expect(err('RUN x\n')).toBe('Dockerfile:1: RUN before the first FROM (only ARG may come first)');
    expect(err('# nothing\n')).toMatch(/FROM is missing/);
    expect(err('FROM a AS x\nFROM b AS x\n')).toBe('Dockerfile:2: duplicate name for build stage: "x"');
    expect(err('FROM a b\n')).toBe('Dockerfile:1: FROM requires either one or three arguments');
    expect(err('FROM a\nENV\n')).toBe('Dockerfile:2: ENV requires at least one argument');
    expect(err('FROM a\nRUN <<EOF\necho\n')).toBe('Dockerfile:2: heredoc: no closing "EOF"');
  });
});

describe('words', () => {
  const vars = new Map([
    ['A', 'one'],
    ['E', ''],
    ['S', 'x y'],
  ]);
  it('expands as the classic builder', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Dockerfile variables, not templates
    expect(expandWord('$A-${A}-${B:-def}-${E:-empty}-${E-set}-${A:+alt}-${B:+alt}', vars)).toBe(
      'one-one-def-empty--alt-',
    );
    expect(expandWord('\'$A\' "$A" \\$A', vars)).toBe('$A one $A');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Dockerfile variables, not templates
    expect(expandWords('a "b c" $S ${A}', vars)).toEqual(['a', 'b c', 'x', 'y', 'one']);
    expect(() => expandWord('"open', vars)).toThrow(/unterminated/);
    expect(() => expandWord('${A', vars)).toThrow(/missing/);
  });
  it('reads KEY=VALUE lists and the legacy ENV form', () => {
    expect(parseKeyValues('K=v L="a b" M=$A', vars, { what: 'ENV' })).toEqual([
      ['K', 'v'],
      ['L', 'a b'],
      ['M', 'one'],
    ]);
    expect(parseKeyValues('K value with spaces', vars, { legacy: true, what: 'ENV' })).toEqual([
      ['K', 'value with spaces'],
    ]);
    expect(() => parseKeyValues('K', vars, { what: 'LABEL' })).toThrow(/=/);
    expect(splitRaw('a="b c" d')).toEqual(['a="b c"', 'd']);
  });
});

describe('globs', () => {
  it('match one component as Go filepath.Match', () => {
    expect(hasGlob('a*.txt')).toBe(true);
    expect(hasGlob('a.txt')).toBe(false);
    expect(componentRegExp('*.conf').test('one.conf')).toBe(true);
    expect(componentRegExp('*.conf').test('a/b.conf')).toBe(false);
    expect(componentRegExp('f?le[0-9]').test('file7')).toBe(true);
    expect(componentRegExp('[^a]x').test('ax')).toBe(false);
    expect(componentRegExp('a\\*').test('a*')).toBe(true);
    expect(() => componentRegExp('[ab')).toThrow(/unterminated/);
  });
});

describe('metadata instructions', () => {
  const one = (line: string) => parseDockerfile(`FROM scratch\n${line}\n`).stages[0].instructions[0];
  it('set the config as docker', () => {
    let c = applyMeta({}, one('ENV A=1 B="x y"'), new Map()).config;
    c = applyMeta(c, one('WORKDIR /app'), new Map()).config;
    c = applyMeta(c, one('WORKDIR sub/$A'), new Map([['A', '1']])).config;
    c = applyMeta(c, one('CMD echo hi'), new Map()).config;
    expect(c).toMatchObject({
      Env: ['A=1', 'B=x y'],
      WorkingDir: '/app/sub/1',
      Cmd: ['/bin/sh', '-c', 'echo hi'],
    });
    // ENTRYPOINT drops an inherited CMD
    expect(applyMeta(c, one('ENTRYPOINT ["run"]'), new Map()).config).toMatchObject({
      Entrypoint: ['run'],
      Cmd: null,
    });
    expect(applyMeta({}, one('EXPOSE 80 1000-1001/udp'), new Map()).config.ExposedPorts).toEqual({
      '80/tcp': {},
      '1000/udp': {},
      '1001/udp': {},
    });
    expect(
      applyMeta({}, one('HEALTHCHECK --interval=1m30s --retries=3 CMD curl x'), new Map()).config.Healthcheck,
    ).toEqual({
      Test: ['CMD-SHELL', 'curl x'],
      Interval: 90e9,
      Retries: 3,
    });
    expect(applyMeta({}, one('SHELL ["/bin/bash", "-c"]'), new Map()).config.Shell).toEqual([
      '/bin/bash',
      '-c',
    ]);
  });
  it('refuse bad values', () => {
    expect(() => applyMeta({}, one('EXPOSE http'), new Map())).toThrow(/invalid port/);
    expect(() => applyMeta({}, one('SHELL /bin/bash'), new Map())).toThrow(/JSON form/);
    expect(() => applyMeta({}, one('ONBUILD ONBUILD RUN x'), new Map())).toThrow(/Chaining/);
    expect(() => applyMeta({}, one('HEALTHCHECK --interval=soon CMD x'), new Map())).toThrow(
      /not a duration/,
    );
    expect(() => parseDurationNs('5', 'x')).toThrow();
    expect(() => parseArgDecls(one('ARG 1BAD=x'), new Map())).toThrow(/invalid name/);
    expect(parseArgDecls(one('ARG A B="c d"'), new Map())).toEqual([
      ['A', undefined],
      ['B', 'c d'],
    ]);
  });
});
