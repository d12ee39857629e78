import { readFileSync } from 'node:fs';

/*
 * Figures the benchmarks and the memory tests read off a run: medians (these machines are noisy, single
 * runs mean little) and what Linux reports of a `sluice` process under measurement.
 */

/** How often a benchmark looks for the drained lists: the resolution of Sluice's time. */
export const DRAIN_POLL_MS = 50;

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
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
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces and parentheses; the fields after its closing one are fixed.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}
