// One base error for the whole project, with a stable code (NW_ERR_*) that logs, events and
// tests can match on, and the underlying cause kept.

export type ErrorCode =
  | 'NW_ERR_CONFIG'
  | 'NW_ERR_HOST_PATH_ESCAPE'
  | 'NW_ERR_HOST_FILE_TOO_LARGE'
  | 'NW_ERR_HOST_FILE_UNREADABLE'
  | 'NW_ERR_HOST_FILE_NOT_REGULAR'
  | 'NW_ERR_PARSE'
  | 'NW_ERR_SPOOL_CORRUPT'
  | 'NW_ERR_SPOOL_FULL'
  | 'NW_ERR_WIRE_PROTOCOL'
  | 'NW_ERR_STORE'
  | 'NW_ERR_RUNTIME_UNAVAILABLE'
  | 'NW_ERR_EXEC_SOURCE'
  | 'NW_ERR_STOPPED'
  | 'NW_ERR_AUTH'
  | 'NW_ERR_AUTH_UNAVAILABLE'
  | 'NW_ERR_STREAM_REPLACED'
  | 'NW_ERR_TLS'
  | 'NW_ERR_AGENT_UNREACHABLE'
  | 'NW_ERR_BAD_ANSWER';

export class NwError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NwError';
    this.code = code;
  }
}

export function isNwError(err: unknown, code?: ErrorCode): err is NwError {
  return err instanceof NwError && (code === undefined || err.code === code);
}

/** A message for logs and findings from anything thrown. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
