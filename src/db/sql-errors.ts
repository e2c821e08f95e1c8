import { AppError, badUserInput, notFound, timeout } from '../errors.js';

/** Unique constraints whose violation the client caused and may hear about, by constraint name. */
const UNIQUE_MESSAGES: Record<string, string> = {
  members_tenant_id_lower_email_key: 'A member with this email already exists.',
};

/**
 * Foreign keys are composite (tenant_id, x_id), so a reference to another tenant's row fails
 * exactly like a reference to a row that never existed, with the same message.
 */
const REFERENCED_TYPE: Record<string, string> = {
  tasks_tenant_id_project_id_fkey: 'Project',
  tasks_tenant_id_assignee_id_fkey: 'Member',
};

function hasCode(error: unknown): error is { code: string; constraint?: string } {
  return (
    typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string'
  );
}

/**
 * SQLSTATE -> AppError. Nothing of PostgreSQL's message or DETAIL reaches the client (they can
 * echo another tenant's values); anything unexpected stays an ordinary error and is masked.
 */
export function mapSqlError(error: unknown): unknown {
  if (error instanceof AppError || !hasCode(error)) return error;
  switch (error.code) {
    case '57014': // query_canceled: statement_timeout
      return timeout();
    case '23505': // unique_violation
      return badUserInput(UNIQUE_MESSAGES[error.constraint ?? ''] ?? 'This value is already taken.');
    case '23503': // foreign_key_violation: a referenced row this tenant cannot see
      return notFound(REFERENCED_TYPE[error.constraint ?? '']);
    case '23514': // check_violation
    case '23502': // not_null_violation
    case '22001': // string too long
    case '22P02': // invalid text representation
    case '22003': // numeric out of range
      return badUserInput('The input is not valid.');
    default:
      return error;
  }
}
