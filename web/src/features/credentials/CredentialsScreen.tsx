import {
  type CredentialFieldState,
  type MarketplaceEntry,
  type OAuthConnection,
  SetCredentialsInput,
} from '@gatehouse/schema';
import { createEffect, createMemo, createSignal, createUniqueId, For, type JSX, on, Show } from 'solid-js';
import { createAction, createQuery } from '../../lib/async.js';
import { type AppError, fieldError, validate } from '../../lib/errors.js';
import { formatDateTime } from '../../lib/format.js';
import { hashQuery, paths } from '../../lib/router.js';
import { trpc } from '../../lib/trpc.js';
import {
  Badge,
  type BadgeTone,
  Button,
  ConfirmDialog,
  ErrorNotice,
  Form,
  Loading,
  Notice,
  PageHeader,
  TextField,
} from '../../ui/index.js';
import { needsOwnCredentials } from '../marketplace/search.js';
import {
  changedValues,
  initialInputs,
  isNavigableUrl,
  type OAuthOutcome,
  parseOAuthOutcome,
} from './credential-form.js';

const connectionLabel: Record<OAuthConnection['status'], string> = {
  connected: 'Connected',
  reconnect_needed: 'Reconnect needed',
  not_connected: 'Not connected',
};
const connectionTone: Record<OAuthConnection['status'], BadgeTone> = {
  connected: 'success',
  reconnect_needed: 'warning',
  not_connected: 'neutral',
};

const localError = (message: string): AppError => ({ code: 'VALIDATION_FAILED', message, fieldErrors: {} });

/**
 * The user's own credentials: values for MCPs that run per user with credential fields, and account
 * connections for MCPs that use OAuth. Opened as `#/my/credentials?oauth=…` after an OAuth round trip, it
 * says how that went.
 */
export function CredentialsScreen() {
  const [outcome, setOutcome] = createSignal<OAuthOutcome | null>(parseOAuthOutcome(hashQuery()));
  // Forget the outcome in the address, so a reload or a shared link does not repeat it.
  if (outcome()) window.history.replaceState(window.history.state, '', paths.credentials);

  const marketplace = createQuery(
    () => true,
    () => trpc.catalog.marketplace.query(),
  );
  const connections = createQuery(
    () => true,
    () => trpc.oauth.connections.query(),
  );

  const entryOf = (mcpId: string) => marketplace.data()?.items.find((entry) => entry.id === mcpId);
  const connectionOf = (mcpId: string) => connections.data()?.items.find((item) => item.mcpId === mcpId);
  const nameOf = (mcpId: string) => entryOf(mcpId)?.name ?? connectionOf(mcpId)?.mcpName ?? mcpId;

  /** Ids, not objects: panels keep their typed values when the lists are reloaded. */
  const mcpIds = createMemo(
    () => {
      const market = marketplace.data()?.items;
      const oauth = connections.data()?.items;
      if (!market || !oauth) return undefined;
      const ids = new Set([
        ...market.filter(needsOwnCredentials).map((entry) => entry.id),
        ...oauth.map((item) => item.mcpId),
      ]);
      return [...ids].sort((a, b) => nameOf(a).localeCompare(nameOf(b)));
    },
    undefined,
    { equals: (a, b) => a?.join() === b?.join() },
  );

  const outcomeName = (slug: string | null) => {
    if (!slug) return 'the MCP';
    return connections.data()?.items.find((item) => item.mcpSlug === slug)?.mcpName ?? slug;
  };

  return (
    <>
      <PageHeader
        title="My credentials"
        description="Values and account connections that MCPs use on your behalf. Secret values are write-only: Gatehouse never shows them again."
      />
      <Show when={outcome()}>
        {(current) => {
          const value = current();
          return value.kind === 'connected' ? (
            <Notice tone="success" title="Account connected" onDismiss={() => setOutcome(null)}>
              <p>Your account for {outcomeName(value.mcp)} is connected; its tools can now act as you.</p>
            </Notice>
          ) : (
            <Notice
              tone="error"
              title="The account could not be connected"
              onDismiss={() => setOutcome(null)}
            >
              <p>
                The provider refused, or the sign-in link had expired, was used twice or was opened in another
                session. The exact reason is recorded in <a href={paths.activity}>My activity</a>.
              </p>
              <p>Try Connect again; if it keeps failing, tell your administrator what the reason says.</p>
            </Notice>
          );
        }}
      </Show>
      <ErrorNotice error={marketplace.error()} title="The MCPs available to you could not be loaded" />
      <ErrorNotice error={connections.error()} title="Your account connections could not be loaded" />
      <Show
        when={mcpIds()}
        fallback={
          <Show when={!marketplace.error() && !connections.error()}>
            <Loading label="Loading your credentials…" />
          </Show>
        }
      >
        {(ids) => (
          <Show
            when={ids().length > 0}
            fallback={
              <p class="ss-empty">
                None of the MCPs available to you needs your own credentials or an account connection. See the{' '}
                <a href={paths.marketplace}>marketplace</a>.
              </p>
            }
          >
            <div class="stack">
              <For each={ids()}>
                {(mcpId) => (
                  <McpPanel
                    mcpId={mcpId}
                    name={nameOf(mcpId)}
                    entry={entryOf(mcpId)}
                    connection={connectionOf(mcpId)}
                    onConnectionChanged={() => connections.refetch()}
                  />
                )}
              </For>
            </div>
          </Show>
        )}
      </Show>
    </>
  );
}

function McpPanel(props: {
  mcpId: string;
  name: string;
  entry: MarketplaceEntry | undefined;
  connection: OAuthConnection | undefined;
  onConnectionChanged: () => Promise<void>;
}) {
  const titleId = createUniqueId();
  return (
    <section class="ss-panel" aria-labelledby={titleId}>
      <div class="ss-card-title">
        <h2 id={titleId} class="section-title">
          {props.name}
        </h2>
        <Show when={props.entry}>
          {(entry) => (
            <a class="cell-secondary" href={paths.marketplaceMcp(entry().id)}>
              About this MCP
            </a>
          )}
        </Show>
      </div>
      <Show when={props.connection}>
        {(connection) => (
          <OAuthBlock name={props.name} connection={connection()} onChanged={props.onConnectionChanged} />
        )}
      </Show>
      <Show when={props.entry && needsOwnCredentials(props.entry)}>
        <CredentialsForm mcpId={props.mcpId} name={props.name} />
      </Show>
    </section>
  );
}

function OAuthBlock(props: { name: string; connection: OAuthConnection; onChanged: () => Promise<void> }) {
  const [leaving, setLeaving] = createSignal(false);
  const [disconnecting, setDisconnecting] = createSignal(false);
  const [message, setMessage] = createSignal<string | null>(null);
  const connect = createAction(async () => {
    const { authorizationUrl } = await trpc.oauth.connect.mutate({ mcpId: props.connection.mcpId });
    if (!isNavigableUrl(authorizationUrl))
      throw localError('The provider’s authorization address is not valid.');
    setLeaving(true);
    window.location.assign(authorizationUrl);
    return true;
  });
  const status = () => props.connection.status;

  return (
    <div class="stack ss-block">
      <div class="row">
        <h3 class="ss-block-title">Account connection</h3>
        <Badge tone={connectionTone[status()]}>{connectionLabel[status()]}</Badge>
      </div>
      <Show when={status() === 'connected'}>
        <p class="field-hint">
          Connected {formatDateTime(props.connection.connectedAt, '')}
          {props.connection.scopes.length > 0 ? ` · Scopes: ${props.connection.scopes.join(', ')}` : ''}.
          Gatehouse renews the access on its own.
        </p>
      </Show>
      <Show when={status() === 'reconnect_needed'}>
        <p class="field-hint">
          The provider no longer accepts the stored authorization. Reconnect to keep using {props.name}.
        </p>
      </Show>
      <Show when={status() === 'not_connected'}>
        <p class="field-hint">
          Connect your account so that {props.name} can act as you. You sign in at the provider and come back
          here.
        </p>
      </Show>
      <ErrorNotice error={connect.error()} title="The connection could not start" />
      <Show when={message()}>
        {(text) => (
          <Notice tone="success" onDismiss={() => setMessage(null)}>
            {text()}
          </Notice>
        )}
      </Show>
      <div class="row">
        <Button
          variant={status() === 'connected' ? 'secondary' : 'primary'}
          busy={connect.pending() || leaving()}
          onClick={() => void connect.run(undefined)}
        >
          {status() === 'not_connected' ? 'Connect' : 'Reconnect'}
        </Button>
        <Show when={status() !== 'not_connected'}>
          <Button variant="ghost" class="btn-danger-text" onClick={() => setDisconnecting(true)}>
            Disconnect
          </Button>
        </Show>
      </div>
      <Show when={disconnecting()}>
        <ConfirmDialog
          title={`Disconnect your account from ${props.name}?`}
          confirmLabel="Disconnect"
          danger
          onClose={() => setDisconnecting(false)}
          onConfirm={async () => {
            const { revokedAtProvider } = await trpc.oauth.disconnect.mutate({
              mcpId: props.connection.mcpId,
            });
            setDisconnecting(false);
            setMessage(
              revokedAtProvider
                ? 'Disconnected. The provider revoked Gatehouse’s access too.'
                : 'Disconnected. Gatehouse forgot its tokens, but the provider did not confirm revoking them: you can remove the access in your account settings there.',
            );
            await props.onChanged();
          }}
        >
          <p>
            Gatehouse forgets your tokens for <strong>{props.name}</strong> and asks the provider to revoke
            them. Its tools stop working for you until you connect again.
          </p>
        </ConfirmDialog>
      </Show>
    </div>
  );
}

function CredentialsForm(props: { mcpId: string; name: string }) {
  const state = createQuery(
    () => props.mcpId,
    (mcpId) => trpc.credentials.get.query({ mcpId }),
  );
  const [inputs, setInputs] = createSignal<Record<string, string>>({});
  const [message, setMessage] = createSignal<string | null>(null);
  const [deleting, setDeleting] = createSignal(false);
  // Whenever the stored state arrives (first load, after a save or delete), the form starts over from it.
  createEffect(on(state.data, (current) => current && setInputs(initialInputs(current.fields))));

  const save = createAction(async (values: Record<string, string>) => {
    if (Object.keys(values).length === 0) throw localError('Nothing to save: enter a new value first.');
    const checked = validate(SetCredentialsInput, { mcpId: props.mcpId, values });
    if (!checked.ok) throw checked.error;
    return trpc.credentials.set.mutate(checked.data);
  });

  const submit = async () => {
    const current = state.data();
    if (!current) return;
    setMessage(null);
    const typed = inputs();
    // Secrets leave the page as soon as they are sent; they come back only if the save fails, to be corrected.
    setInputs({
      ...typed,
      ...Object.fromEntries(current.fields.filter((f) => f.secret).map((f) => [f.name, ''])),
    });
    const saved = await save.run(changedValues(current.fields, typed));
    if (!saved) return setInputs(typed);
    await state.refetch();
    setMessage(saved.complete ? 'Saved.' : 'Saved. Some required values are still missing.');
  };

  const anySet = () => state.data()?.fields.some((field) => field.set) ?? false;

  return (
    <div class="stack ss-block">
      <div class="row">
        <h3 class="ss-block-title">Credentials</h3>
        <Show when={state.data()}>
          {(current) => (
            <Badge tone={current().complete ? 'success' : 'warning'}>
              {current().complete ? 'Complete' : 'Required values missing'}
            </Badge>
          )}
        </Show>
      </div>
      <Show
        when={state.data()}
        fallback={
          <>
            <ErrorNotice error={state.error()} title="These credentials could not be loaded" />
            <Show when={!state.error()}>
              <Loading label="Loading…" />
            </Show>
          </>
        }
      >
        {(current) => (
          <Form
            class="stack"
            aria-label={`Credentials for ${props.name}`}
            onSubmit={() => void submit()}
            pending={save.pending()}
            error={save.error()}
          >
            <div class="form-grid">
              <For each={current().fields}>
                {(field) => (
                  <TextField
                    label={field.label}
                    type={field.secret ? 'password' : 'text'}
                    value={inputs()[field.name] ?? ''}
                    onInput={(value) => setInputs((previous) => ({ ...previous, [field.name]: value }))}
                    autocomplete={field.secret ? 'new-password' : 'off'}
                    spellcheck={false}
                    maxLength={8192}
                    required={field.required && !field.set}
                    placeholder={
                      field.secret && field.set ? 'Stored: type a new value to replace it' : undefined
                    }
                    hint={fieldHint(field)}
                    error={fieldError(save.error(), `values.${field.name}`)}
                  />
                )}
              </For>
            </div>
            <ErrorNotice error={save.error()} title="The credentials could not be saved" />
            <Show when={message()}>
              {(text) => (
                <Notice tone="success" onDismiss={() => setMessage(null)}>
                  {text()}
                </Notice>
              )}
            </Show>
            <div class="row">
              <Button type="submit" variant="primary" busy={save.pending()}>
                Save
              </Button>
              <Button
                variant="ghost"
                class="btn-danger-text"
                disabled={!anySet() || save.pending()}
                onClick={() => setDeleting(true)}
              >
                Delete
              </Button>
            </div>
          </Form>
        )}
      </Show>
      <Show when={deleting()}>
        <ConfirmDialog
          title={`Delete your credentials for ${props.name}?`}
          confirmLabel="Delete credentials"
          danger
          onClose={() => setDeleting(false)}
          onConfirm={async () => {
            await trpc.credentials.delete.mutate({ mcpId: props.mcpId });
            setDeleting(false);
            await state.refetch();
            setMessage('Deleted.');
          }}
        >
          <p>
            Every value you stored for <strong>{props.name}</strong> is erased. Its tools stop working for you
            until you enter them again.
          </p>
        </ConfirmDialog>
      </Show>
    </div>
  );
}

/** The field's help, then whether it is set and when; a secret's value is never shown. */
function fieldHint(field: CredentialFieldState): JSX.Element {
  const status = field.set
    ? `Set on ${formatDateTime(field.updatedAt)}.${field.secret ? ' Leave empty to keep it.' : ''}`
    : field.required
      ? 'Not set; required.'
      : 'Not set; optional.';
  return field.help ? `${field.help} ${status}` : status;
}
