import { describe, expect, it } from 'vitest';
import { isRowRejection, isTransientPgError } from '../../sinks/postgres/pg-errors.js';

/* Which PostgreSQL failures a sink retries, by SQLSTATE (and message, where the state alone is ambiguous). */

const pgError = (code: string, message = 'failed') => Object.assign(new Error(message), { code });

describe('PostgreSQL errors', () => {
  it.each([
    ['a dropped connection (no SQLSTATE)', new Error('Connection terminated unexpectedly')],
    ['admin shutdown 57P01', pgError('57P01')],
    ['serialization failure 40001', pgError('40001')],
    ['too many connections 53300', pgError('53300')],
    ['lock timeout 55P03', pgError('55P03')],
    ['two creators of one table: duplicate table 42P07', pgError('42P07', 'relation "tyk_analytics" already exists')],
    ['two creators of one table: its row type 42710', pgError('42710', 'type "sluice_applied_batches" already exists')],
    ['two creators of one table: 23505 in pg_type', pgError('23505', 'duplicate key value violates unique constraint "pg_type_typname_nsp_index"')],
  ])('retries %s', (_name, err) => {
    expect(isTransientPgError(err)).toBe(true);
  });

  it.each([
    ['a NUL in text 22021', pgError('22021')],
    ['a duplicate row 23505 in a user table', pgError('23505', 'duplicate key value violates unique constraint "tyk_aggregated_pkey"')],
    ['a syntax error 42601', pgError('42601')],
    ['a missing column 42703', pgError('42703')],
  ])('does not retry %s', (_name, err) => {
    expect(isTransientPgError(err)).toBe(false);
  });

  it('isolates rows for data and integrity errors only', () => {
    expect(isRowRejection(pgError('22021'))).toBe(true);
    expect(isRowRejection(pgError('23505'))).toBe(true);
    expect(isRowRejection(pgError('42710'))).toBe(false);
    expect(isRowRejection(new Error('no code'))).toBe(false);
  });
});
