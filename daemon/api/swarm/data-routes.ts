// Engine API routes for secrets and configs: /secrets and /configs (list ?filters, create, inspect, update
// ?version, DELETE), as dockerd 20.10 answers the docker CLI (traces secret-*, config-*). A secret's data is
// never returned; a config's is (base64, as Docker). Names or ids are accepted wherever an id is.
import { invalidArgument, ShoalError } from '../../../common/errors.js';
import type { ControlOperations, DataKind, DataObjectSpec } from '../../../manager/controlapi/index.js';
import type { Config, Secret } from '../../../proto/gen/shoal/swarm/v1/objects.js';
import { badRequest } from '../../http/errors.js';
import { queryInt } from '../../http/query.js';
import type { RequestContext, Router } from '../../http/router.js';
import { type Json, Reader } from './json.js';
import { metaJson } from './translate.js';

// Go's encoding/json decodes []byte from standard base64 with padding; nothing else is data.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A SecretSpec/ConfigSpec body. Drivers (external secret stores) are refused naming the field. */
export function dataSpecFromJson(kind: DataKind, body: unknown): DataObjectSpec {
  const r = Reader.of(body);
  const driver = r.obj('Driver');
  if (driver && (driver.str('Name') !== '' || Object.keys(driver.map('Options')).length > 0))
    throw new ShoalError(
      'invalid_argument',
      `Driver: ${kind} drivers (--driver ${driver.str('Name')}) are not supported by shoal: the data must be given`,
      { field: 'Driver' },
    );
  const raw = r.str('Data');
  if (!BASE64.test(raw)) throw invalidArgument('Data', 'must be base64 (standard alphabet, padded)');
  const templating = r.obj('Templating')?.str('Name') ?? '';
  return {
    name: r.str('Name'),
    labels: r.map('Labels'),
    ...(r.has('Data') ? { data: Buffer.from(raw, 'base64') } : {}),
    ...(templating ? { templating } : {}),
  };
}

export function secretJson(s: Secret): Json {
  return {
    ...metaJson(s.id, s.meta),
    Spec: { Name: s.spec?.annotations?.name ?? '', Labels: { ...(s.spec?.annotations?.labels ?? {}) } },
  };
}

export function configJson(c: Config): Json {
  return {
    ...metaJson(c.id, c.meta),
    Spec: {
      Name: c.spec?.annotations?.name ?? '',
      Labels: { ...(c.spec?.annotations?.labels ?? {}) },
      Data: Buffer.from(c.spec?.data ?? []).toString('base64'),
    },
  };
}

type Filters = Parameters<ControlOperations['listSecrets']>[0];

export function registerSecretsAndConfigs(
  router: Router,
  control: () => ControlOperations | Promise<ControlOperations>,
  parseFilters: (q: URLSearchParams) => Filters,
): void {
  const version = (ctx: RequestContext): number => {
    const v = queryInt(ctx.query, 'version');
    if (v === undefined || v < 0)
      throw badRequest('invalid version: the version query parameter (the Version.Index read) is required');
    return v;
  };

  router.get('/secrets', async (ctx) => {
    ctx.reply.json(200, (await control()).listSecrets(parseFilters(ctx.query)).map(secretJson));
  });
  router.post('/secrets/create', async (ctx) => {
    const spec = dataSpecFromJson('secret', await ctx.readJson());
    const s = await (await control()).createSecret(spec);
    ctx.reply.json(201, { ID: s.id });
  });
  router.get('/secrets/:id', async (ctx) => {
    ctx.reply.json(200, secretJson((await control()).getSecret(ctx.params.id!)));
  });
  router.post('/secrets/:id/update', async (ctx) => {
    const v = version(ctx);
    const spec = dataSpecFromJson('secret', await ctx.readJson());
    await (await control()).updateSecret(ctx.params.id!, v, spec);
    ctx.reply.empty(200);
  });
  router.delete('/secrets/:id', async (ctx) => {
    await (await control()).removeSecret(ctx.params.id!);
    ctx.reply.empty(204);
  });

  router.get('/configs', async (ctx) => {
    ctx.reply.json(200, (await control()).listConfigs(parseFilters(ctx.query)).map(configJson));
  });
  router.post('/configs/create', async (ctx) => {
    const spec = dataSpecFromJson('config', await ctx.readJson());
    const c = await (await control()).createConfig(spec);
    ctx.reply.json(201, { ID: c.id });
  });
  router.get('/configs/:id', async (ctx) => {
    ctx.reply.json(200, configJson((await control()).getConfig(ctx.params.id!)));
  });
  router.post('/configs/:id/update', async (ctx) => {
    const v = version(ctx);
    const spec = dataSpecFromJson('config', await ctx.readJson());
    await (await control()).updateConfig(ctx.params.id!, v, spec);
    ctx.reply.empty(200);
  });
  router.delete('/configs/:id', async (ctx) => {
    await (await control()).removeConfig(ctx.params.id!);
    ctx.reply.empty(204);
  });
}
