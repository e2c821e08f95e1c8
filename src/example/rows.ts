/**
 * Row shapes as pg returns them: bigint ids arrive as strings, and so do timestamps (the serving
 * pool leaves timestamptz as PostgreSQL's text, see pool.ts; the DateTime scalar converts it).
 */
export interface MemberRow {
  id: string;
  name: string;
  /** The ciphertext (types/member.ts, memberEmail), or a value stored before encryption. */
  email: string;
  created_at: string;
}

export interface ProjectRow {
  id: string;
  name: string;
  created_at: string;
}

export type TaskStatus = 'TODO' | 'IN_PROGRESS' | 'DONE';

export interface TaskRow {
  id: string;
  project_id: string;
  title: string;
  status: TaskStatus;
  assignee_id: string | null;
  created_at: string;
  updated_at: string;
}
