import {
  type Client,
  type ClientKind,
  ClientKind as ClientKinds,
  type ClientStatus,
} from '@gatehouse/schema';
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

/** How a client connects, in a few words: its OAuth registration and domain, or its key's prefix. */
export function connectionLabel(
  client: Pick<Client, 'oauthClientId' | 'registration' | 'domain' | 'keyPrefix'>,
): { oauth: boolean; text: string } {
  if (client.oauthClientId) {
    const domain = client.domain ?? 'an unknown domain';
    return {
      oauth: true,
      text:
        client.registration === 'cimd'
          ? `OAuth · verified by its domain ${domain}`
          : `OAuth · self-registered, returns to ${domain}`,
    };
  }
  return { oauth: false, text: `Key ${client.keyPrefix ?? ''}…` };
}

/** Whether the client signs in through OAuth (no key to rotate; revoking it means it must ask again). */
export const isOAuthClient = (client: Pick<Client, 'oauthClientId'>): boolean =>
  Boolean(client.oauthClientId);
