import { builder, connectionOf } from '../../index.js';
import type { MemberRow, ProjectRow, TaskRow } from '../rows.js';

// Declared apart from their fields so that types can point at each other without import cycles.
export const ProjectRef = builder.objectRef<ProjectRow>('Project');
export const MemberRef = builder.objectRef<MemberRow>('Member');
export const TaskRef = builder.objectRef<TaskRow>('Task');

export const ProjectConnection = connectionOf('Project', ProjectRef);
export const MemberConnection = connectionOf('Member', MemberRef);
export const TaskConnection = connectionOf('Task', TaskRef);

export const TaskStatusEnum = builder.enumType('TaskStatus', {
  values: ['TODO', 'IN_PROGRESS', 'DONE'] as const,
});
