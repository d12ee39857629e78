import { createHash } from 'node:crypto';
import { hostname } from 'node:os';

/*
 * Which process made a test database or key prefix, so that what a killed test or benchmark left behind can
 * be told apart from what a running one still uses. The host is part of it because the servers may be shared.
 */

const HOST = createHash('sha256').update(hostname()).digest('hex').slice(0, 6);

/** `<host>.<pid>` of this process. */
export const OWNER = `${HOST}.${process.pid}`;

/** Finds an owner tag in a name. */
export const OWNER_PATTERN = /([0-9a-f]{6})\.(\d+)/;

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it runs, under another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when `name` carries the owner tag of a process of this host that has ended. */
export function isAbandoned(name: string): boolean {
  const owner = OWNER_PATTERN.exec(name);
  return owner !== null && owner[1] === HOST && !isRunning(Number(owner[2]));
}
