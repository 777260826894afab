import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { filtersQuery } from '../../cli/commands/ps.js';
import { splitReference, startFailureStatus } from '../../cli/commands/run.js';
import { statsRow } from '../../cli/commands/stats.js';
import { Demuxer } from '../../cli/stdio.js';
import { renderTemplate } from '../../cli/template.js';
import { muxFrame } from '../../daemon/api/streams.js';

const collect = (s: PassThrough) => {
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  return () => Buffer.concat(chunks).toString();
};

describe('demultiplexing', () => {
  it('splits frames across arbitrary chunk boundaries into stdout and stderr', () => {
    const out = new PassThrough();
    const err = new PassThrough();
    const o = collect(out);
    const e = collect(err);
    const wire = Buffer.concat([
      muxFrame(1, Buffer.from('hello ')),
      muxFrame(2, Buffer.from('oops\n')),
      muxFrame(1, Buffer.from('world\n')),
    ]);
    const demux = new Demuxer(out, err);
    for (let i = 0; i < wire.length; i += 3) demux.push(wire.subarray(i, i + 3));
    expect(o()).toBe('hello world\n');
    expect(e()).toBe('oops\n');
  });
});

describe('inspect templates', () => {
  const data = {
    Name: '/c1',
    State: { Status: 'running', Pid: 7 },
    Config: { Env: ['A=1'], Labels: { app: 'x' } },
    Missing: null,
  };
  it('renders field paths and json like Go templates', () => {
    expect(renderTemplate('{{.State.Status}} {{.State.Pid}} {{.Name}}', data)).toBe('running 7 /c1');
    expect(renderTemplate('{{json .Config.Env}}|{{.Config.Labels.app}}|{{.Missing}}|{{.Nope}}', data)).toBe(
      '["A=1"]|x|<nil>|<no value>',
    );
  });
  it('names unsupported actions', () => {
    expect(() => renderTemplate('{{range .X}}', data)).toThrow(/unsupported action "\{\{range \.X\}\}"/);
  });
});

describe('small translations', () => {
  it('encodes ps filters as the docker CLI does (keys sorted)', () => {
    expect(filtersQuery(['status=running', 'name=c1', 'name=c2'])).toBe(
      '{"name":{"c1":true,"c2":true},"status":{"running":true}}',
    );
    expect(() => filtersQuery(['bogus'])).toThrow(/expected name=value/);
  });

  it('splits image references into fromImage and tag', () => {
    expect(splitReference('busybox')).toEqual({ fromImage: 'busybox', tag: 'latest' });
    expect(splitReference('localhost:5000/a/b:1.2')).toEqual({ fromImage: 'localhost:5000/a/b', tag: '1.2' });
    expect(splitReference('a@sha256:abc')).toEqual({ fromImage: 'a@sha256:abc' });
  });

  it('maps start failures to docker exit statuses', () => {
    expect(startFailureStatus('exec "nope": executable file not found in $PATH')).toBe(127);
    expect(startFailureStatus('exec "/etc/passwd": permission denied')).toBe(126);
    expect(startFailureStatus('bind mount source /x: no such file or directory')).toBe(125);
  });

  it('computes stats columns with docker formulas', () => {
    const row = statsRow({
      id: 'a'.repeat(64),
      name: '/c1',
      cpu_stats: { cpu_usage: { total_usage: 2e8 }, system_cpu_usage: 2e9, online_cpus: 2 },
      precpu_stats: { cpu_usage: { total_usage: 1e8 }, system_cpu_usage: 1e9 },
      memory_stats: { usage: 32 * 1024 * 1024, limit: 64 * 1024 * 1024, stats: { total_inactive_file: 0 } },
      pids_stats: { current: 3 },
    });
    expect(row).toEqual([
      'aaaaaaaaaaaa',
      'c1',
      '20.00%',
      '32MiB / 64MiB',
      '50.00%',
      '0B / 0B',
      '0B / 0B',
      '3',
    ]);
  });
});
