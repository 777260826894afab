import { expect, it } from 'vitest';
import { containerDefaults } from './defaults.js';
import { parseImageConfig } from './manifest.js';

const d = `sha256:${'a'.repeat(64)}`;

it('maps the image config to the engine create defaults', () => {
  const cfg = parseImageConfig(
    JSON.stringify({
      rootfs: { type: 'layers', diff_ids: [d] },
      config: {
        Env: ['PATH=/bin', 'A=1'],
        Cmd: ['-c', 'echo hi'],
        Entrypoint: ['/bin/sh'],
        WorkingDir: '/srv',
        User: 'app:app',
        ExposedPorts: { '80/tcp': {} },
        Labels: { a: 'b' },
        Healthcheck: { Test: ['CMD', 'true'], Interval: 1e9 },
        StopSignal: 'SIGQUIT',
        Volumes: { '/data': {} },
        OnBuild: ['ignored'],
      },
    }),
  );
  expect(containerDefaults(cfg)).toEqual({
    Env: ['PATH=/bin', 'A=1'],
    Cmd: ['-c', 'echo hi'],
    Entrypoint: ['/bin/sh'],
    WorkingDir: '/srv',
    User: 'app:app',
    ExposedPorts: { '80/tcp': {} },
    Labels: { a: 'b' },
    Healthcheck: { Test: ['CMD', 'true'], Interval: 1e9 },
    StopSignal: 'SIGQUIT',
    Volumes: { '/data': {} },
  });
});

it('leaves out what the image does not set (null Cmd/Entrypoint, empty strings)', () => {
  const cfg = parseImageConfig(
    JSON.stringify({
      rootfs: { type: 'layers', diff_ids: [] },
      config: { Cmd: null, Entrypoint: null, WorkingDir: '' },
    }),
  );
  expect(containerDefaults(cfg)).toEqual({});
  expect(
    containerDefaults(parseImageConfig(JSON.stringify({ rootfs: { type: 'layers', diff_ids: [] } }))),
  ).toEqual({});
});
