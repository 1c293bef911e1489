import type { Role, UserStatus } from '@gatehouse/schema';
import type { BadgeTone, SelectOption } from '../../ui/index.js';

export const roleLabels: Record<Role, string> = { admin: 'Admin', auditor: 'Auditor', user: 'User' };

export const roleOptions: readonly SelectOption<Role>[] = [
  { value: 'user', label: 'User' },
  { value: 'auditor', label: 'Auditor' },
  { value: 'admin', label: 'Admin' },
];

export const roleHint =
  'Admins manage everything; auditors can look but not change; users have no portal access.';

export const roleTone: Record<Role, BadgeTone> = { admin: 'accent', auditor: 'neutral', user: 'neutral' };

export const statusLabels: Record<UserStatus, string> = { active: 'Active', suspended: 'Suspended' };
export const statusTone: Record<UserStatus, BadgeTone> = { active: 'success', suspended: 'warning' };
