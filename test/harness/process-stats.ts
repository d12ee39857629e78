import { readFileSync } from 'node:fs';
import type pg from 'pg';
import type { Redis } from 'ioredis';

/*
 * Figures the benchmarks and the memory tests read off a run: medians (these machines are noisy, single
 * runs mean little) and what Linux reports of a `sluice` process, or of PostgreSQL's, under measurement.
 */

/** How often a benchmark looks for the drained lists: the resolution of Sluice's time. */
export const DRAIN_POLL_MS = 50;

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/**
 * A ceiling measured before and after Sluice's run, as one rate: that of their mean time per record. This
 * machine's speed drifts by a quarter within minutes, so a ceiling measured on one side only compares
 * Sluice with a different machine.
 */
export function bracketedRate(before: number, after: number): number {
  return 2 / (1 / before + 1 / after);
}

/** A memory figure of /proc/<pid>/status in MB: VmHWM is the peak resident set; 0 once the process is gone. */
export function procStatusMb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  try {
    return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
  } catch {
    return 0;
  }
}

/** Linux reports CPU time in clock ticks of USER_HZ, 100 per second on every architecture Node runs on. */
const TICKS_PER_SECOND = 100;

/**
 * CPU seconds the process has used so far, all its threads, user and system (/proc/<pid>/stat utime and
 * stime). A rate moves with whatever else the machine runs; CPU per record moves less.
 */
export function cpuSeconds(pid: number): number {
  return statCpuSeconds(readFileSync(`/proc/${pid}/stat`, 'utf8'));
}

/** The fields of a /proc/<pid>/stat line after the command name, which may hold spaces and parentheses. */
function statFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** cpuSeconds of a /proc/<pid>/stat line read elsewhere (e.g. printed by a `psql` session for its backend). */
export function statCpuSeconds(stat: string): number {
  const fields = statFields(stat);
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** CPU seconds of this process's children that have exited and been waited for (cutime and cstime). */
export function exitedChildrenCpuSeconds(): number {
  const fields = statFields(readFileSync('/proc/self/stat', 'utf8'));
  return (Number(fields[13]) + Number(fields[14])) / TICKS_PER_SECOND;
}

/**
 * CPU the server processes of one PostgreSQL database have used since `start`, summed over every backend
 * seen: a pool opens and closes connections during a run, so each backend is read at every `sample` and
 * counted from its value at the start, or from zero if it appeared later. Only a server on this machine.
 */
export class DatabaseCpu {
  private readonly backends = new Map<number, { from: number; last: number }>();
  private started = false;

  constructor(private readonly pool: pg.Pool) {}

  async start(): Promise<void> {
    await this.sample();
    this.started = true;
  }

  async sample(): Promise<void> {
    const { rows } = await this.pool.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
    );
    for (const { pid } of rows) {
      let seconds: number;
      try {
        seconds = cpuSeconds(pid);
      } catch {
        continue; // the backend exited between the query and the read
      }
      const seen = this.backends.get(pid);
      if (seen) seen.last = seconds;
      else this.backends.set(pid, { from: this.started ? 0 : seconds, last: seconds });
    }
  }

  get seconds(): number {
    let total = 0;
    for (const { from, last } of this.backends.values()) total += last - from;
    return total;
  }
}

/** CPU seconds the Redis server has used since it started, all its threads (`INFO cpu`). */
export async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)![1]);
  return field('used_cpu_sys') + field('used_cpu_user');
}
