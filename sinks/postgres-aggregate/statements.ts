import { quoteIdent } from '../postgres/columns.js';
import { fillPlaceholders, sqlStatement } from '../postgres/sql.js';

/*
 * The aggregate tables' statements. Identifiers (table and index names, column lists) cannot be bind
 * parameters, so the statements carry $TABLE-style placeholders filled here.
 */

export const CREATE_TABLE = sqlStatement(import.meta.url, 'create-aggregate-table');
export const CREATE_INDEX = sqlStatement(import.meta.url, 'create-dimension-index');
export const CREATE_INDEX_CONCURRENTLY = sqlStatement(import.meta.url, 'create-dimension-index-concurrently');
export const UPSERT_ROWS = sqlStatement(import.meta.url, 'upsert-aggregate-rows');

export interface Identifiers {
  readonly table: string;
  readonly index?: string;
  readonly columns?: readonly string[];
}

export function withIdentifiers(statement: string, ids: Identifiers): string {
  return fillPlaceholders(statement, {
    $TABLE: quoteIdent(ids.table),
    $INDEX: ids.index === undefined ? undefined : quoteIdent(ids.index),
    $COLUMNS: ids.columns?.map(quoteIdent).join(', '),
  });
}
