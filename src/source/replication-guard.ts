import { Cluster, type Redis } from 'ioredis';
import { SluiceError } from '../errors.js';

/*
 * Replication is asynchronous: a claim a master acknowledged can vanish in a failover, and its elements
 * reappear in the gateway list. Claimed again, possibly in a different chunking, they would form a batch
 * with a different id, which the sinks' ledgers would not recognise as written. So on a node with
 * replicas no claim is processed until a replica has it (WAIT on the very connection that ran the claim,
 * since WAIT counts that connection's own writes); a claim that cannot be confirmed is undone instead.
 * Acks need no such care: a lost ack brings back the same in-flight list, the same batch id.
 */

/** The replication state a claim or take-over script reports for the node that ran it. */
export interface ReplicationState {
  /** Connected replicas; -1 when the user may not run INFO, and the guard cannot help. */
  readonly replicas: number;
  /** The node's replication history (master_replid); a promoted replica starts a new one. */
  readonly replid: string;
}

/** The connection that serves a key, and how many times it had (re)connected when it was looked at. */
export interface PinnedConnection {
  readonly connection: Redis | undefined;
  readonly epoch: number;
  /** The key's Cluster slot; undefined elsewhere. */
  readonly slot: number | undefined;
}

/** A claim no replica confirmed in time; it was handed back to the gateway list and is claimed again later. */
export class UnreplicatedClaimError extends SluiceError {
  constructor(source: string, inflightKey: string) {
    super('claim_unreplicated', `claim on ${source} not confirmed by a replica (failover in progress?); handed back`, { source, inflightKey });
  }
}

/**
 * How long a replication history that had replicas keeps requiring one after they are all gone. A master
 * that Sentinel or Cluster demotes loses its replica first and is turned into a replica within seconds;
 * claims it takes in that window would be lost, so they are undone. Past this grace the node is taken to
 * have lost its replica for good and is drained as a standalone server, trading that protection for not
 * stalling the shard (Redis's own `min-replicas-to-write` is there for those who prefer to stop).
 */
const REPLICA_LOSS_GRACE_MS = 30_000;

export class ReplicationGuard {
  /** Replication histories seen with replicas, and when last. */
  private readonly replicatedAt = new Map<string, number>();
  private readonly readyCounts = new WeakMap<Redis, number>();
  private readonly slots = new Map<string, number>();

  constructor(private readonly redis: Redis | Cluster, private readonly waitMs: number) {}

  /** Looks up, before a script is sent, the connection it should run on; compared again in confirm(). */
  async pin(key: string): Promise<PinnedConnection> {
    const slot = this.redis instanceof Cluster ? await this.slotOf(key) : undefined;
    const connection = this.connectionFor(slot);
    return { connection, slot, epoch: connection ? this.epochOf(connection) : -1 };
  }

  /**
   * True when the script's writes may be processed: the node has no replica (and had none lately), or a
   * replica acknowledged them over the connection pinned before the script was sent. Never throws.
   */
  async confirm(pinned: PinnedConnection, state: ReplicationState): Promise<boolean> {
    if (!this.expectsReplica(state)) return true;
    if (state.replicas === 0) return false;
    const { connection } = pinned;
    if (!connection || !this.unchanged(pinned)) return false;
    try {
      const acknowledged = Number(await connection.call('WAIT', 1, this.waitMs));
      return acknowledged >= 1 && this.epochOf(connection) === pinned.epoch;
    } catch {
      return false;
    }
  }

  private expectsReplica(state: ReplicationState): boolean {
    if (state.replicas < 0) return false;
    const now = Date.now();
    if (state.replicas > 0) {
      this.replicatedAt.set(state.replid, now);
      return true;
    }
    const last = this.replicatedAt.get(state.replid);
    return last !== undefined && now - last < REPLICA_LOSS_GRACE_MS;
  }

  /**
   * The script ran over the pinned socket only if the key's node is still the same connection object,
   * which has not reconnected since: a redirect or a reconnect would have changed one of the two.
   */
  private unchanged(pinned: PinnedConnection): boolean {
    const current = this.connectionFor(pinned.slot);
    return current !== undefined && current === pinned.connection && this.epochOf(current) === pinned.epoch;
  }

  private connectionFor(slot: number | undefined): Redis | undefined {
    return slot === undefined ? (this.redis as Redis) : this.clusterMaster(slot);
  }

  /** Counts 'ready' events: each is a new socket, possibly to a different node (Sentinel moves the client). */
  private epochOf(connection: Redis): number {
    const known = this.readyCounts.get(connection);
    if (known !== undefined) return known;
    this.readyCounts.set(connection, 0);
    connection.on('ready', () => this.readyCounts.set(connection, (this.readyCounts.get(connection) ?? 0) + 1));
    return 0;
  }

  /** A source key's slot never changes, so the server is asked once per key. */
  private async slotOf(key: string): Promise<number> {
    let slot = this.slots.get(key);
    if (slot === undefined) {
      slot = Number(await this.redis.call('CLUSTER', 'KEYSLOT', key));
      this.slots.set(key, slot);
    }
    return slot;
  }

  /** The pooled connection ioredis sends the slot's commands to, as its slot map stands now. */
  private clusterMaster(slot: number): Redis | undefined {
    const cluster = this.redis as Cluster;
    const nodeKey = cluster.slots[slot]?.[0];
    return cluster.nodes('master').find((node) => `${node.options.host}:${node.options.port}` === nodeKey);
  }
}
