/* Runs once before the suite: says which services the run uses, so the output shows where checks ran. */
export default function setup(): void {
  const mongo = process.env.MONGO_URL ? `MongoDB at MONGO_URL` : 'CongoDB (in-process MongoDB wire server)';
  console.log(`[sluice tests] Redis ${process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'}; PostgreSQL ${process.env.PGHOST ?? '127.0.0.1'}:5432; Mongo: ${mongo}`);
}
