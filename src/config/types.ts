/*
 * The configuration after loading: pump.conf merged with TYK_PMP_* variables, defaults applied and
 * validated against config/pump.schema.json. Key names are Tyk's so the file reads like a pump.conf.
 */

export interface TlsVersionRange {
  ssl_min_version: string;
  ssl_max_version: string;
}

export interface StorageConfig extends TlsVersionRange {
  type: string;
  host: string;
  port: number;
  addrs: string[];
  hosts: Record<string, string | number>;
  master_name: string;
  sentinel_password: string;
  username: string;
  password: string;
  database: number;
  timeout: number;
  optimisation_max_idle: number;
  optimisation_max_active: number;
  enable_cluster: boolean;
  key_prefix: string;
  redis_key_prefix: string;
  use_ssl: boolean;
  redis_use_ssl: boolean;
  ssl_insecure_skip_verify: boolean;
  redis_ssl_insecure_skip_verify: boolean;
  ssl_ca_file: string;
  ssl_cert_file: string;
  ssl_key_file: string;
}

export interface PumpFilters {
  org_ids: string[];
  api_ids: string[];
  response_codes: number[];
  skip_org_ids: string[];
  skip_api_ids: string[];
  skip_response_codes: number[];
}

export interface PumpConfig {
  /** The key under `pumps`, upper-cased as Tyk does. */
  name: string;
  /** Lower-cased pump type, e.g. `sql`, `mongo-pump-aggregate`. */
  type: string;
  filters: PumpFilters;
  timeout: number;
  omit_detailed_recording: boolean;
  max_record_size: number;
  ignore_fields: string[];
  meta: Record<string, unknown>;
}

export interface UptimePumpConfig {
  /** `sql`, or `mongo` / empty for MongoDB. */
  uptime_type: string;
  [key: string]: unknown;
}

export interface RetrySettings {
  /** Write attempts inside the process before a batch moves to the sink's durable retry queue. */
  in_process_attempts: number;
  in_process_backoff_ms: number;
  /** Attempts in the durable retry queue before the batch is a dead letter. */
  queue_attempts: number;
  queue_backoff_ms: number;
  /** Batches waiting in a sink's retry queue past which claiming pauses. */
  queue_max_backlog: number;
}

/** Settings Tyk Pump does not have; they live under one key of their own, `sluice`. */
export interface SluiceSettings {
  worker_id: string;
  lease_seconds: number;
  default_chunk: number;
  claim_concurrency: number;
  memory_budget_mb: number;
  sink_queue_batches: number;
  /** Threads that decode and encode batches; 0 keeps that on the main thread. */
  encode_threads: number;
  shutdown_timeout: number;
  retention_days: number;
  retention_interval_seconds: number;
  dead_letter_key: string;
  retry: RetrySettings;
}

export interface PumpConfiguration {
  analytics_storage_type: string;
  analytics_storage_config: StorageConfig;
  purge_delay: number;
  purge_chunk: number;
  storage_expiration_time: number;
  log_level: string;
  log_format: string;
  health_check_endpoint_name: string;
  health_check_endpoint_port: number;
  enable_http_profiler: boolean;
  statsd_connection_string: string;
  statsd_prefix: string;
  max_record_size: number;
  omit_detailed_recording: boolean;
  dont_purge_uptime_data: boolean;
  uptime_pump_config: UptimePumpConfig;
  pumps: PumpConfig[];
  sluice: SluiceSettings;
}
