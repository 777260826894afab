// Image events as dockerd logs them (pull, push, tag, untag, delete, import, load, save), published
// on /events by the images routes. Which id and name each action carries follows dockerd's calls.
import { familiarName, familiarString, parseReference } from '../../common/reference.js';
import type { ImageStore } from '../../worker/images/index.js';
import type { ApiDeps } from './deps.js';
import { imageEventMessage } from './events.js';

export class ImageEvents {
  constructor(private readonly deps: ApiDeps) {}

  private emit(action: string, id: string, name: string): void {
    this.deps.events?.publish(imageEventMessage(action, id, name, this.deps.now().getTime()));
  }

  /** pull and push name the reference ("busybox:latest") and its repository ("busybox"). */
  transferred(action: 'pull' | 'push', ref: string): void {
    const r = parseReference(ref);
    this.emit(action, familiarString(r), familiarName(r));
  }

  tagged(id: string, ref: string): void {
    this.emit('tag', id, familiarString(parseReference(ref)));
  }

  /** One event per image id for these actions (dockerd names the id twice). */
  byId(action: 'import' | 'load' | 'save' | 'delete', ids: Iterable<string>): void {
    for (const id of new Set(ids)) this.emit(action, id, id);
  }

  /** Every tag → its image id, taken before a removal (untag events carry the id of what lost the tag). */
  static tagOwners(s: ImageStore): Map<string, string> {
    const m = new Map<string, string>();
    for (const rec of s.all()) for (const t of s.repoTags(rec.id)) m.set(t, rec.id);
    return m;
  }

  removed(r: { untagged: string[]; deleted: string[] }, owners: Map<string, string>): void {
    for (const u of r.untagged) {
      const id = owners.get(u) ?? u;
      this.emit('untag', id, id);
    }
    this.byId('delete', r.deleted);
  }
}
