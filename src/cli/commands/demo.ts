import { writeDemoTraffic, type DemoOptions } from '../../demo/write-traffic.js';
import { closeRedis, connectRedis, type CommandContext } from './common.js';

/** `sluice demo`: writes demo gateway traffic into the configured Redis, as a traffic generator. */
export async function demoCommand(ctx: CommandContext, opts: DemoOptions): Promise<number> {
  const redis = await connectRedis(ctx.config);
  try {
    const written = await writeDemoTraffic(redis, ctx.config, opts);
    ctx.out(`wrote ${written.analytics} analytics records (${opts.protobuf ? 'protobuf' : 'msgpack'}) and ${written.uptime} uptime reports over ${opts.days} days\n`);
    return 0;
  } finally {
    await closeRedis(redis);
  }
}
