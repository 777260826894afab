// Secrets and configs (swarmkit's controlapi/secret.go and config.go, with dockerd's lookups): create with
// Docker's name and size rules, labels-only updates, removal refused while a service names the object.
// A secret's data is sealed with the cluster data key before it is proposed (so the log, the snapshots and
// every store hold ciphertext only) and never returned; a config's data is stored and returned as is.
import { conflict, notFound, ShoalError } from '../../common/errors.js';
import type { Config, Secret } from '../../proto/gen/shoal/swarm/v1/objects.js';
import type { SecretCipher } from '../secrets/index.js';
import type { ReadTx, Store } from '../store/index.js';
import { clone, type Objects } from '../store/tables.js';
import { anyOf, checkFilterKeys, type Filters, labelsMatch } from './filters.js';

export type DataKind = 'secret' | 'config';

/** What a create or an update carries (the Engine API's SecretSpec/ConfigSpec, driver already refused). */
export interface DataObjectSpec {
  name: string;
  labels: Record<string, string>;
  /** Create: required. Update: absent or identical (Docker allows only label changes). */
  data?: Uint8Array;
  /** Config templating driver name ('' or absent: none). */
  templating?: string;
}

/** Docker's limits (swarmkit's MaxSecretSize, MaxConfigSize): data must be shorter than these. */
export const MAX_DATA_BYTES: Record<DataKind, number> = { secret: 500 * 1024, config: 1000 * 1024 };

const NAME = /^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$/;
const MAX_NAME = 64;

const FILTERS: Record<DataKind, readonly string[]> = {
  secret: ['id', 'name', 'names', 'label'],
  config: ['id', 'name', 'names', 'label'],
};

const bad = (field: string, message: string) => new ShoalError('invalid_argument', message, { field });

/** swarmkit's checks, with its messages (the CLI shows them as they are). */
export function checkDataObjectSpec(kind: DataKind, spec: DataObjectSpec): void {
  if (spec.name === '') throw bad('Name', 'name must be provided');
  if (spec.name.length > MAX_NAME || !NAME.test(spec.name))
    throw bad(
      'Name',
      `invalid name, only ${MAX_NAME} [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]`,
    );
  const n = spec.data?.length ?? 0;
  if (n < 1 || n >= MAX_DATA_BYTES[kind])
    throw bad('Data', `${kind} data must be larger than 0 and less than ${MAX_DATA_BYTES[kind]} bytes`);
  if (spec.templating)
    throw bad(
      'Templating',
      `${kind} templating (--template-driver ${spec.templating}) is not supported by shoal yet`,
    );
}

/** The operations of one kind over the store. Secrets need a cipher; without one they are refused. */
export class DataObjects<K extends DataKind> {
  constructor(
    private readonly kind: K,
    private readonly store: Store,
    private readonly cipher: () => SecretCipher | undefined,
  ) {}

  async create(spec: DataObjectSpec): Promise<Objects[K]> {
    checkDataObjectSpec(this.kind, spec);
    const id = this.store.newId();
    const data = Buffer.from(spec.data ?? []);
    const object =
      this.kind === 'secret'
        ? ({
            id,
            meta: undefined,
            spec: {
              annotations: { name: spec.name, labels: { ...spec.labels } },
              data: Buffer.alloc(0),
              templating: undefined,
            },
            internal: false,
            sealed: this.requireCipher().seal(id, data),
          } satisfies Secret)
        : ({
            id,
            meta: undefined,
            spec: {
              annotations: { name: spec.name, labels: { ...spec.labels } },
              data,
              templating: undefined,
            },
          } satisfies Config);
    await this.store.update((tx) => {
      if (tx.getByName(this.kind, spec.name))
        throw conflict(`${this.kind} ${spec.name} already exists`, 'Name');
      tx.create(this.kind, object as Objects[K]);
    });
    return this.get(id);
  }

  /** By id, exact name, then unique id prefix (dockerd's order). Secrets come without their sealed data. */
  get(ref: string): Objects[K] {
    const o = this.store.view((tx) => this.find(tx, ref));
    if (!o) throw notFound(`${this.kind} ${ref} not found`, 'id');
    return this.outward(o);
  }

  list(filters: Filters = {}): Objects[K][] {
    checkFilterKeys(filters, FILTERS[this.kind]);
    return this.store.view((tx) =>
      (tx.list(this.kind) as Objects[K][])
        .filter((o) => {
          const name = o.spec?.annotations?.name ?? '';
          return (
            !(o as Secret).internal &&
            anyOf(filters.id, (v) => o.id.startsWith(v)) &&
            anyOf(filters.name, (v) => name.startsWith(v)) &&
            anyOf(filters.names, (v) => name === v) &&
            labelsMatch(filters.label, o.spec?.annotations?.labels ?? {})
          );
        })
        .map((o) => this.outward(o)),
    );
  }

  /** Only the labels may change: another name, or data that differs, is refused with Docker's message. */
  async update(ref: string, version: number, spec: DataObjectSpec): Promise<Objects[K]> {
    const current = this.get(ref);
    await this.store.update((tx) => {
      const stored = tx.get(this.kind, current.id) as Objects[K] | undefined;
      if (!stored) throw notFound(`${this.kind} ${ref} not found`, 'id');
      if (stored.meta?.version !== version) throw conflict('update out of sequence', 'version');
      if (
        stored.spec?.annotations?.name !== spec.name ||
        (spec.data?.length && !this.sameData(stored, spec.data))
      )
        throw bad('Spec', 'only updates to Labels are allowed');
      const next = clone(this.kind, stored) as Objects[K];
      next.spec!.annotations = { name: spec.name, labels: { ...spec.labels } };
      tx.update(this.kind, next);
    });
    return this.get(current.id);
  }

  /** Refused while any service names it (Docker's message lists them). */
  async remove(ref: string): Promise<void> {
    const current = this.get(ref);
    await this.store.update((tx) => {
      const o = tx.get(this.kind, current.id);
      if (!o) throw notFound(`${this.kind} ${ref} not found`, 'id');
      const users = tx
        .list('service')
        .filter((s) => {
          const c = s.spec?.taskTemplate?.containerSpec;
          return this.kind === 'secret'
            ? c?.secrets.some((r) => r.secretId === o.id)
            : c?.configs.some((r) => r.configId === o.id);
        })
        .map((s) => s.spec?.annotations?.name ?? s.id);
      if (users.length > 0)
        throw new ShoalError(
          'invalid_argument',
          `${this.kind} '${o.spec?.annotations?.name}' is in use by the following service${users.length === 1 ? '' : 's'}: ${users.join(', ')}`,
          { field: 'id' },
        );
      tx.remove(this.kind, o.id);
    });
  }

  private find(tx: ReadTx, ref: string): Objects[K] | undefined {
    const exact = tx.lookup(this.kind, ref) as Objects[K] | undefined;
    if (exact) return exact;
    const hits = (tx.list(this.kind) as Objects[K][]).filter((o) => o.id.startsWith(ref));
    if (hits.length > 1) throw bad('id', `${this.kind} ${ref} is ambiguous (${hits.length} matches found)`);
    return hits[0];
  }

  private sameData(stored: Objects[K], data: Uint8Array): boolean {
    const plain =
      this.kind === 'secret'
        ? this.requireCipher().open(stored.id, (stored as Secret).sealed!)
        : Buffer.from(stored.spec?.data ?? []);
    return Buffer.from(data).equals(plain);
  }

  private outward(o: Objects[K]): Objects[K] {
    return this.kind === 'secret' ? ({ ...(o as Secret), sealed: undefined } as Objects[K]) : o;
  }

  private requireCipher(): SecretCipher {
    const c = this.cipher();
    if (!c)
      throw new ShoalError(
        'unavailable',
        'this manager holds no data key: secrets cannot be sealed or opened',
      );
    return c;
  }
}
