// Container names: docker's rules for user-given names, and generated "adjective_noun" names.
import { InvalidArgumentError } from './errors.js';

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** Strips docker's leading "/" and checks the allowed characters. */
export function normalizeName(name: string): string {
  const n = name.startsWith('/') ? name.slice(1) : name;
  if (!NAME_RE.test(n))
    throw new InvalidArgumentError(
      'name',
      `"${name}" is invalid: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, 2 characters or more`,
    );
  return n;
}

const ADJECTIVES = [
  'brisk',
  'calm',
  'deep',
  'eager',
  'fleet',
  'glassy',
  'hushed',
  'keen',
  'lively',
  'misty',
  'nimble',
  'quiet',
  'rapid',
  'salty',
  'silver',
  'swift',
  'tidal',
  'vivid',
  'wavy',
  'zesty',
  'amber',
  'bold',
  'coral',
  'dusky',
];
const NOUNS = [
  'anchovy',
  'barracuda',
  'cod',
  'dolphin',
  'eel',
  'flounder',
  'grouper',
  'herring',
  'marlin',
  'minnow',
  'perch',
  'pike',
  'ray',
  'salmon',
  'sardine',
  'shark',
  'smelt',
  'snapper',
  'sprat',
  'trout',
  'tuna',
  'wahoo',
  'whiting',
];

/** A fresh name not in `taken`; `random()` in [0,1) is injected for tests. */
export function generateName(taken: (name: string) => boolean, random: () => number = Math.random): string {
  const pick = (list: string[]) => list[Math.floor(random() * list.length)];
  for (let attempt = 0; ; attempt++) {
    const base = `${pick(ADJECTIVES)}_${pick(NOUNS)}`;
    // After a few collisions add a number, as docker does, so this always terminates.
    const name = attempt < 8 ? base : `${base}${Math.floor(random() * 1000) + attempt}`;
    if (!taken(name)) return name;
  }
}
