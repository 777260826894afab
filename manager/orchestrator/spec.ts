// The only place the orchestrator and scheduler name ServiceSpec/TaskSpec fields that the proto is renaming to
// Docker's JSON names (task → task_template, container → container_spec, restart → restart_policy,
// endpoint → endpoint_spec): when that lands, only this file (and the test builders) change.
import type { Service, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import type { TaskSpec } from '../../proto/gen/shoal/swarm/v1/specs.js';
import type { EndpointSpec, RestartPolicy } from '../../proto/gen/shoal/swarm/v1/types.js';

/** The service's task template (Docker's TaskTemplate). */
export const taskTemplate = (s: Service): TaskSpec | undefined => s.spec?.taskTemplate;

export const endpointSpecOf = (s: Service): EndpointSpec | undefined => s.spec?.endpointSpec;

export const restartPolicyOf = (spec: TaskSpec | undefined): RestartPolicy | undefined => spec?.restartPolicy;

/** The image a task runs (tests). */
export const imageOf = (t: Task): string | undefined => t.spec?.containerSpec?.image;

/** Edits a service's task template and endpoint spec in place (tests: `h.edit('service', id, …)`). */
export function editService(
  s: Service,
  edit: { image?: string; placement?: TaskSpec['placement']; endpoint?: EndpointSpec },
): void {
  const tpl = s.spec?.taskTemplate;
  if (!s.spec || !tpl) throw new Error(`service ${s.id} has no task template`);
  if (edit.image !== undefined && tpl.containerSpec) tpl.containerSpec.image = edit.image;
  if (edit.placement !== undefined) tpl.placement = edit.placement;
  if (edit.endpoint !== undefined) s.spec.endpointSpec = edit.endpoint;
}
