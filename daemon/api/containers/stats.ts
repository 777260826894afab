// Engine stats samples → Docker's stats JSON (what `docker stats` reads: cpu_stats, precpu_stats,
// memory_stats, pids_stats).
import { totalmem } from 'node:os';
import type { Container, ContainerStats } from '../../../worker/engine/index.js';

const ZERO_TIME = '0001-01-01T00:00:00Z';

function cpuJson(s: ContainerStats | undefined): Record<string, unknown> {
  if (!s) {
    return {
      cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 },
      throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
    };
  }
  return {
    cpu_usage: {
      total_usage: s.cpu.usageNs,
      usage_in_kernelmode: s.cpu.systemNs,
      usage_in_usermode: s.cpu.userNs,
    },
    system_cpu_usage: s.systemCpuNs,
    online_cpus: s.onlineCpus,
    throttling_data: {
      periods: s.cpu.periods,
      throttled_periods: s.cpu.throttledPeriods,
      throttled_time: s.cpu.throttledNs,
    },
  };
}

/** One stats object; `pre` is the previous sample (docker's precpu_stats), if any. */
export function statsJson(
  c: Container,
  cur: ContainerStats,
  pre: ContainerStats | undefined,
): Record<string, unknown> {
  return {
    read: cur.read,
    preread: pre?.read ?? ZERO_TIME,
    pids_stats: { current: cur.pids.current, ...(cur.pids.limit > 0 ? { limit: cur.pids.limit } : {}) },
    blkio_stats: {
      io_service_bytes_recursive: null,
      io_serviced_recursive: null,
      io_queue_recursive: null,
      io_service_time_recursive: null,
      io_wait_time_recursive: null,
      io_merged_recursive: null,
      io_time_recursive: null,
      sectors_recursive: null,
    },
    num_procs: 0,
    storage_stats: {},
    cpu_stats: cpuJson(cur),
    precpu_stats: cpuJson(pre),
    memory_stats: {
      usage: cur.memory.usage,
      max_usage: cur.memory.maxUsage,
      stats: {},
      failcnt: cur.memory.failcnt,
      // An unlimited cgroup reports a huge number; docker shows the host's memory instead.
      limit: cur.memory.limit > 0 ? Math.min(cur.memory.limit, totalmem()) : totalmem(),
    },
    name: `/${c.name}`,
    id: c.id,
    networks: {},
  };
}
