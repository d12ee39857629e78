import { createHash } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';

/*
 * Which process made a test database or key prefix, so that what a killed test or benchmark left behind can
 * be told apart from what a running one still uses. A pid only means something where it was issued, and the
 * servers may be shared: the tag names the kernel's boot and the pid namespace as well as the host, so that
 * machines or containers sharing a host name (`--network host`) are not mistaken for this one.
 */

function readOr(read: () => string): string {
  try {
    return read().trim();
  } catch {
    // Not Linux: the host name alone has to do, and a pid that answers runs.
    return '';
  }
}

const PID_SPACE = createHash('sha256')
  .update(hostname())
  .update(readOr(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8')))
  .update(readOr(() => readlinkSync('/proc/self/ns/pid')))
  .digest('hex')
  .slice(0, 6);

/** The owner tag of process `pid` in pid space `pidSpace`: `<pid space>.<pid>`. */
export function ownerOf(pidSpace: string, pid: number): string {
  return `${pidSpace}.${pid}`;
}

/** This process's owner tag. */
export const OWNER = ownerOf(PID_SPACE, process.pid);

const OWNER_PATTERN = /([0-9a-f]{6})\.(\d+)/;

/** A process that has exited but is not reaped yet (vitest's workers, at its global teardown) has ended. */
function isZombie(pid: number): boolean {
  const stat = readOr(() => readFileSync(`/proc/${pid}/stat`, 'utf8'));
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it runs, under another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !isZombie(pid);
}

/** True when `name` carries the owner tag of a process that has ended, in this pid space. */
export function isAbandoned(name: string): boolean {
  const owner = OWNER_PATTERN.exec(name);
  return owner !== null && owner[1] === PID_SPACE && !isRunning(Number(owner[2]));
}
