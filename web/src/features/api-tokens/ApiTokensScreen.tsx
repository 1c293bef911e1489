import type { ApiToken } from '@gatehouse/schema';
import { createSignal, Show } from 'solid-js';
import { createQuery } from '../../lib/async.js';
import { showFlash } from '../../lib/flash.js';
import { formatDate, formatDateTime } from '../../lib/format.js';
import { me, role } from '../../lib/session.js';
import { trpc } from '../../lib/trpc.js';
import {
  Badge,
  type BadgeTone,
  Button,
  type Column,
  ConfirmDialog,
  ErrorNotice,
  PageHeader,
  Table,
} from '../../ui/index.js';
import { roleLabels, roleTone } from '../users/roles.js';
import { CreateTokenDialog } from './CreateTokenDialog.js';

type TokenState = 'active' | 'expired' | 'revoked';
const stateLabel: Record<TokenState, string> = { active: 'Active', expired: 'Expired', revoked: 'Revoked' };
const stateTone: Record<TokenState, BadgeTone> = { active: 'success', expired: 'neutral', revoked: 'danger' };

function stateOf(token: ApiToken, now = Date.now()): TokenState {
  if (token.revokedAt) return 'revoked';
  if (token.expiresAt && Date.parse(token.expiresAt) <= now) return 'expired';
  return 'active';
}

export function ApiTokensScreen() {
  const tokens = createQuery(
    () => true,
    () => trpc.apiTokens.list.query(),
  );
  // Tokens name their creator by id only; look the usernames up (one batched request).
  const creatorIds = () => {
    const ids = [...new Set((tokens.data()?.items ?? []).map((token) => token.createdBy))].sort();
    return ids.length > 0 ? ids.join(',') : false;
  };
  const creators = createQuery(creatorIds, async (joined) => {
    const ids = joined.split(',');
    const found = await Promise.allSettled(ids.map((id) => trpc.users.get.query({ id })));
    const names = new Map<string, string>();
    found.forEach((result, index) => {
      const id = ids[index];
      if (id && result.status === 'fulfilled') names.set(id, result.value.username);
    });
    return names;
  });
  const creatorName = (token: ApiToken) =>
    token.createdBy === me()?.user.id ? 'you' : (creators.data()?.get(token.createdBy) ?? token.createdBy);

  const [creating, setCreating] = createSignal(false);
  const [revoking, setRevoking] = createSignal<ApiToken | null>(null);

  const columns: Column<ApiToken>[] = [
    {
      header: 'Name',
      cell: (token) => (
        <>
          <span class="cell-primary">{token.name}</span>
          <span class="cell-secondary">
            <code>{token.displayPrefix}…</code>
          </span>
        </>
      ),
    },
    { header: 'Role', cell: (token) => <Badge tone={roleTone[token.role]}>{roleLabels[token.role]}</Badge> },
    { header: 'Created by', cell: creatorName },
    { header: 'Created', cell: (token) => formatDate(token.createdAt) },
    { header: 'Expires', cell: (token) => formatDate(token.expiresAt, 'Never') },
    { header: 'Last used', cell: (token) => formatDateTime(token.lastUsedAt, 'Never') },
    {
      header: 'Status',
      cell: (token) => <Badge tone={stateTone[stateOf(token)]}>{stateLabel[stateOf(token)]}</Badge>,
    },
    {
      header: <span class="sr-only">Actions</span>,
      class: 'col-actions',
      cell: (token) => (
        <Show when={!token.revokedAt}>
          <div class="table-actions">
            <Button
              size="sm"
              variant="ghost"
              class="btn-danger-text"
              aria-label={`Revoke ${token.name}`}
              onClick={() => setRevoking(token)}
            >
              Revoke
            </Button>
          </div>
        </Show>
      ),
    },
  ];

  return (
    <>
      <PageHeader
        title="API tokens"
        description={
          role() === 'admin'
            ? 'Tokens let scripts call the Gatehouse API with the role of the person who created them. You see every token.'
            : 'Tokens let scripts call the Gatehouse API with your role. You see the tokens you created.'
        }
        actions={
          <Button variant="primary" onClick={() => setCreating(true)}>
            New token
          </Button>
        }
      />
      <ErrorNotice error={tokens.error()} title="API tokens could not be loaded" />
      <Table
        caption="API tokens"
        columns={columns}
        rows={tokens.data()?.items}
        loading={tokens.loading()}
        empty="No API tokens yet."
      />

      <Show when={creating()}>
        <CreateTokenDialog
          onClose={() => setCreating(false)}
          onCreated={(created) => {
            showFlash(`Token ${created.apiToken.name} was created.`);
            void tokens.refetch();
          }}
        />
      </Show>
      <Show when={revoking()} keyed>
        {(token) => (
          <ConfirmDialog
            title={`Revoke ${token.name}?`}
            confirmLabel="Revoke token"
            danger
            onClose={() => setRevoking(null)}
            onConfirm={async () => {
              await trpc.apiTokens.revoke.mutate({ id: token.id });
              setRevoking(null);
              showFlash(`Token ${token.name} was revoked.`);
              await tokens.refetch();
            }}
          >
            <p>
              Anything using <code>{token.displayPrefix}…</code> stops working at once. This cannot be undone.
            </p>
          </ConfirmDialog>
        )}
      </Show>
    </>
  );
}
