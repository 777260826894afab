// GET /events: the engine's container events and the image store's image events (published by the
// images routes through `deps.events`) as Docker's event messages, newline-delimited JSON.
// Recent events are kept in a ring so that `since` can replay them; without `until` the stream
// stays open and follows new events until the client goes away.
import type { EngineEvent } from '../../worker/engine/index.js';
import { queryTime } from '../http/query.js';
import type { RequestContext, Router } from '../http/router.js';
import { parseFilterArgs } from './containers/filters.js';
import type { ApiDeps } from './deps.js';
import { writeAsync } from './streams.js';

/** Events kept for `since` to replay: dockerd keeps the last 256 (a full ring holds ~0.5 MB of ours at 1,024). */
const RING = 256;

export interface EventMessage {
  status: string;
  id: string;
  from?: string;
  Type: 'container' | 'image';
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number;
  timeNano: number;
}

export function eventMessage(e: EngineEvent): EventMessage {
  const image = e.attributes.image;
  return {
    status: e.action,
    id: e.id,
    ...(image !== undefined ? { from: image } : {}),
    Type: 'container',
    Action: e.action,
    Actor: { ID: e.id, Attributes: e.attributes },
    scope: 'local',
    time: Math.floor(e.timeMs / 1000),
    timeNano: e.timeMs * 1_000_000,
  };
}

/**
 * An image event as dockerd logs it: `id` is the image id or the reference the action took (pull and
 * push name a reference), `name` the reference or id it shows, the image's labels beside it.
 */
export function imageEventMessage(
  action: string,
  id: string,
  name: string,
  timeMs: number,
  labels: Record<string, string> = {},
): EventMessage {
  return {
    status: action,
    id,
    Type: 'image',
    Action: action,
    Actor: { ID: id, Attributes: { ...labels, name } },
    scope: 'local',
    time: Math.floor(timeMs / 1000),
    timeNano: timeMs * 1_000_000,
  };
}

/** Where routes other than the engine's publish events (the images routes, commit). */
export interface EventSink {
  publish(m: EventMessage): void;
}

type EventFilters = Record<string, string[]>;

const EVENT_FILTERS = new Set(['type', 'container', 'event', 'label', 'image']);

/** As dockerd: these filter values match their actions with a suffix ("health_status: healthy"). */
const PREFIX_EVENTS = new Set(['health_status', 'exec_create', 'exec_start']);
const eventNameMatches = (filter: string, action: string) =>
  action === filter || (PREFIX_EVENTS.has(filter) && action.startsWith(`${filter}:`));

export function eventMatches(m: EventMessage, f: EventFilters): boolean {
  const attrs = m.Actor.Attributes;
  if (f.type?.length && !f.type.includes(m.Type)) return false;
  if (f.event?.length && !f.event.some((e) => eventNameMatches(e, m.Action))) return false;
  if (f.container?.length && !f.container.some((c) => m.id.startsWith(c) || attrs.name === c)) return false;
  if (f.image?.length && !f.image.some((i) => imageMatches(m, i))) return false;
  if (f.label?.length) {
    for (const l of f.label) {
      const eq = l.indexOf('=');
      const ok = eq < 0 ? Object.hasOwn(attrs, l) : attrs[l.slice(0, eq)] === l.slice(eq + 1);
      if (!ok) return false;
    }
  }
  return true;
}

const stripTag = (ref: string) => ref.replace(/(@sha256:[0-9a-f]+|:[^:/]+)$/, '');

/** dockerd's image filter: the actor's id or image name (the `name` of an image event), with or without the tag. */
function imageMatches(m: EventMessage, want: string): boolean {
  const name = (m.Type === 'image' ? m.Actor.Attributes.name : m.Actor.Attributes.image) ?? '';
  const id = m.Type === 'image' ? m.Actor.ID : '';
  return [id, name, stripTag(id), stripTag(name)].includes(want);
}

/** `since`/`until` in milliseconds; a date far in the future counts as a year from now. */
function timeParam(ctx: RequestContext, key: string, nowMs: number): number | undefined {
  const s = queryTime(ctx.query, key);
  return s === undefined ? undefined : Math.min(s * 1000, nowMs + 365 * 24 * 3600 * 1000);
}

export function registerEvents(router: Router, deps: ApiDeps): void {
  const ring: EventMessage[] = [];
  const listeners = new Set<(m: EventMessage) => void>();
  const publish = (m: EventMessage) => {
    ring.push(m);
    if (ring.length > RING) ring.shift();
    for (const l of listeners) l(m);
  };
  deps.engine.on('event', (e) => publish(eventMessage(e)));
  deps.events = { publish };

  router.get('/events', async (ctx) => {
    const now = deps.now().getTime();
    const since = timeParam(ctx, 'since', now);
    const until = timeParam(ctx, 'until', now);
    const filters = parseFilterArgs(ctx.query.get('filters'), EVENT_FILTERS);
    const out = ctx.reply.stream(200, { 'Content-Type': 'application/json' });
    const inWindow = (m: EventMessage) =>
      (since === undefined || m.timeNano / 1e6 >= since) &&
      (until === undefined || m.timeNano / 1e6 <= until);
    const send = (m: EventMessage) => writeAsync(out, Buffer.from(`${JSON.stringify(m)}\n`)).catch(() => {});
    // Snapshot and subscribe in the same tick: every event is either replayed or delivered live,
    // and live ones wait in `pending` until the replay is written, to keep the order.
    const replay = since !== undefined ? ring.filter((m) => inWindow(m) && eventMatches(m, filters)) : [];
    let pending: EventMessage[] | undefined = [];
    const listener = (m: EventMessage) => {
      if (!eventMatches(m, filters) || (until !== undefined && m.timeNano / 1e6 > until)) return;
      if (pending) pending.push(m);
      else void send(m);
    };
    const live = until === undefined || until > now;
    if (live) listeners.add(listener);
    for (const m of replay) await send(m);
    for (const m of pending) await send(m);
    pending = undefined;
    if (live) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        const timer = until !== undefined ? setTimeout(done, until - now) : undefined;
        if (ctx.closed.aborted) done();
        else ctx.closed.addEventListener('abort', done, { once: true });
      });
      listeners.delete(listener);
    }
    if (!ctx.closed.aborted) out.end();
  });
}
