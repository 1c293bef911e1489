import { type ClientKind, ClientKind as ClientKinds, type ClientStatus } from '@gatehouse/schema';
import type { BadgeTone, SelectOption } from '../../ui/index.js';

export const kindLabels: Record<ClientKind, string> = {
  'claude-code': 'Claude Code',
  'claude-desktop': 'Claude Desktop',
  vscode: 'VS Code',
  cursor: 'Cursor',
  agent: 'Agent',
  other: 'Other',
};

/** Every kind the schema knows, in the schema's order. */
export const kindOptions: readonly SelectOption<ClientKind>[] = ClientKinds.options.map((kind) => ({
  value: kind,
  label: kindLabels[kind],
}));

export const statusLabels: Record<ClientStatus, string> = {
  active: 'Active',
  suspended: 'Suspended',
  revoked: 'Revoked',
};
export const statusTone: Record<ClientStatus, BadgeTone> = {
  active: 'success',
  suspended: 'warning',
  revoked: 'danger',
};
