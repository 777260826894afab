import { describe, expect, it } from 'vitest';
import { isShoalError } from '../../common/errors.js';
import { NodeRole } from '../../proto/gen/shoal/swarm/v1/types.js';
import { nodeMatches, parseConstraints } from './constraint.js';
import { node } from './testkit.js';

const matches = (expr: string, n = sample()) => nodeMatches(parseConstraints([expr]), n);

function sample() {
  return node('n1', {
    hostname: 'alpha',
    role: NodeRole.NODE_ROLE_MANAGER,
    labels: { zone: 'eu-1', ssd: 'true' },
    engineLabels: { gpu: 'yes' },
    os: 'linux',
    arch: 'x86_64',
  });
}

describe('placement constraints', () => {
  it('match every supported key with == and !=', () => {
    expect(matches('node.id==n1')).toBe(true);
    expect(matches('node.id!=n1')).toBe(false);
    expect(matches('node.hostname==alpha')).toBe(true);
    expect(matches('node.hostname != beta')).toBe(true);
    expect(matches('node.role==manager')).toBe(true);
    expect(matches('node.role==worker')).toBe(false);
    expect(matches('node.platform.os==linux')).toBe(true);
    expect(matches('node.platform.arch==x86_64')).toBe(true);
    expect(matches('node.labels.zone==eu-1')).toBe(true);
    expect(matches('node.labels.zone!=eu-1')).toBe(false);
    expect(matches('engine.labels.gpu==yes')).toBe(true);
  });

  it('compare case-insensitively and treat a missing label as empty', () => {
    expect(matches('NODE.ROLE==Manager')).toBe(true);
    expect(matches('node.labels.zone==EU-1')).toBe(true);
    expect(matches('node.labels.missing!=x')).toBe(true);
    expect(matches('node.labels.missing==x')).toBe(false);
  });

  it('an unknown key parses but never matches (with either operator)', () => {
    expect(matches('node.colour==red')).toBe(false);
    expect(matches('node.colour!=red')).toBe(false);
  });

  it('all constraints of a list must hold', () => {
    expect(nodeMatches(parseConstraints(['node.role==manager', 'node.labels.zone==eu-1']), sample())).toBe(
      true,
    );
    expect(nodeMatches(parseConstraints(['node.role==manager', 'node.labels.zone==eu-2']), sample())).toBe(
      false,
    );
  });

  it('refuses malformed expressions with the field and the problem', () => {
    const cases: [string, RegExp][] = [
      ['node.role=manager', /no operator/],
      ['==manager', /key "" is invalid/],
      ['node.role==', /value "" is invalid/],
      ['node role==manager', /key "node role" is invalid/],
      ['node.role==a,b', /value "a,b" is invalid/],
    ];
    for (const [expr, problem] of cases) {
      let err: unknown;
      try {
        parseConstraints(['node.id==x', expr], 'task_template.placement.constraints');
      } catch (e) {
        err = e;
      }
      expect(isShoalError(err, 'invalid_argument'), expr).toBe(true);
      expect((err as Error).message).toMatch(/^task_template\.placement\.constraints\[1\]: /);
      expect((err as Error).message).toMatch(problem);
    }
  });
});
