import {
  type CredentialFieldState,
  type Group,
  type McpDetail,
  type McpOAuth,
  SetCredentialsInput,
  SetMcpGroupsInput,
  SetOAuthClientSecretInput,
} from '@gatehouse/schema';
import { createEffect, createSignal, For, on, Show } from 'solid-js';
import { createAction, createQuery, type Query } from '../../lib/async.js';
import { type AppError, fieldError, validate } from '../../lib/errors.js';
import { formatDateTime } from '../../lib/format.js';
import { canManage } from '../../lib/session.js';
import { trpc } from '../../lib/trpc.js';
import {
  Badge,
  Button,
  ConfirmDialog,
  ErrorNotice,
  Form,
  Loading,
  Notice,
  TextField,
} from '../../ui/index.js';
import { Checkbox } from './Checkbox.js';

const sameIds = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && [...a].sort().join() === [...b].sort().join();

/** Which groups may use the MCP; takes effect at once, for every version. */
export function GroupsSection(props: {
  mcp: McpDetail;
  groups: Query<{ items: Group[] }>;
  onSaved: (message: string) => Promise<void>;
}) {
  const [selected, setSelected] = createSignal<string[]>([...props.mcp.groupIds]);
  const dirty = () => !sameIds(selected(), props.mcp.groupIds);
  // A refresh brings the server's grants; an edit in progress is kept.
  let lastSaved = [...props.mcp.groupIds];
  createEffect(
    on(
      () => props.mcp.groupIds,
      (ids) => {
        if (sameIds(selected(), lastSaved)) setSelected([...ids]);
        lastSaved = [...ids];
      },
      { defer: true },
    ),
  );
  const save = createAction(async () => {
    const input = { id: props.mcp.id, groupIds: selected() };
    const checked = validate(SetMcpGroupsInput, input);
    if (!checked.ok) throw checked.error;
    return trpc.catalog.setGroups.mutate(input);
  });
  const submit = async () => {
    const saved = await save.run(undefined);
    if (saved) {
      lastSaved = [...saved.groupIds];
      setSelected([...saved.groupIds]);
      await props.onSaved('Group access was saved.');
    }
  };
  const nameOf = (id: string) => props.groups.data()?.items.find((group) => group.id === id)?.name ?? id;
  const toggle = (id: string, checked: boolean) =>
    setSelected((ids) =>
      checked ? [...ids.filter((other) => other !== id), id] : ids.filter((other) => other !== id),
    );

  return (
    <section class="stack" aria-labelledby="mcp-groups-title">
      <div class="cat-section-header">
        <h2 id="mcp-groups-title" class="section-title">
          Access
        </h2>
        <span class="muted">Members of these groups find the MCP in the marketplace and can use it.</span>
      </div>
      <ErrorNotice error={props.groups.error()} title="Groups could not be loaded" />
      <Show
        when={canManage()}
        fallback={
          <p>
            <Show
              when={props.mcp.groupIds.length > 0}
              fallback={<span class="muted">No group has access.</span>}
            >
              {props.mcp.groupIds.map(nameOf).join(', ')}
            </Show>
          </p>
        }
      >
        <Form class="stack" onSubmit={() => void submit()} pending={save.pending()} error={save.error()}>
          <fieldset class="cat-fieldset">
            <legend>Groups with access</legend>
            <Show when={!props.groups.data() && props.groups.loading()}>
              <Loading label="Loading groups…" />
            </Show>
            <Show when={props.groups.data()?.items.length === 0}>
              <p class="muted">There are no groups yet.</p>
            </Show>
            <div class="cat-check-grid">
              <For each={props.groups.data()?.items}>
                {(group) => (
                  <Checkbox
                    label={group.name}
                    checked={selected().includes(group.id)}
                    onChange={(checked) => toggle(group.id, checked)}
                  />
                )}
              </For>
            </div>
          </fieldset>
          <ErrorNotice error={save.error()} title="Group access could not be saved" />
          <div class="row">
            <Button type="submit" variant="primary" busy={save.pending()} disabled={!dirty()}>
              Save groups
            </Button>
            <Show when={dirty()}>
              <Button
                variant="ghost"
                onClick={() => setSelected([...props.mcp.groupIds])}
                disabled={save.pending()}
              >
                Undo changes
              </Button>
            </Show>
          </div>
        </Form>
      </Show>
    </section>
  );
}

/**
 * The values a shared MCP runs with, set by admins for everyone. Secret values are write-only: the form shows
 * whether a field is set, never its value; non-secret values are shown and can be edited.
 */
export function SharedCredentialsSection(props: {
  mcpId: string;
  onSaved: (message: string) => Promise<void>;
}) {
  const state = createQuery(
    () => props.mcpId,
    (mcpId) => trpc.credentials.get.query({ mcpId }),
  );
  const [values, setValues] = createSignal<Record<string, string>>({});
  const [removing, setRemoving] = createSignal<CredentialFieldState | null>(null);
  const currentValue = (field: CredentialFieldState) =>
    values()[field.name] ?? (field.secret ? '' : (field.value ?? ''));
  const changed = () => {
    const fields = state.data()?.fields ?? [];
    return Object.fromEntries(
      fields
        .filter((field) => {
          const entered = values()[field.name];
          return entered !== undefined && entered !== '' && (field.secret || entered !== (field.value ?? ''));
        })
        .map((field) => [field.name, values()[field.name] as string]),
    );
  };
  const save = createAction(async () => {
    const input = { mcpId: props.mcpId, values: changed() };
    if (Object.keys(input.values).length === 0) {
      const nothing: AppError = {
        code: 'VALIDATION_FAILED',
        message: 'Enter at least one value to save; blank fields keep their current value.',
        fieldErrors: {},
      };
      throw nothing;
    }
    const checked = validate(SetCredentialsInput, input);
    if (!checked.ok) throw checked.error;
    return trpc.credentials.set.mutate(input);
  });
  const submit = async () => {
    if (await save.run(undefined)) {
      setValues({});
      await state.refetch();
      await props.onSaved('The shared credentials were saved.');
    }
  };
  const hintOf = (field: CredentialFieldState) =>
    [
      field.help && !/[.!?]$/.test(field.help) ? `${field.help}.` : field.help,
      field.set
        ? `Set ${formatDateTime(field.updatedAt)}.${field.secret ? ' The value is never shown; enter a new one to replace it.' : ''}`
        : field.required
          ? 'Not set yet: the MCP does not start without it.'
          : 'Not set (optional).',
    ]
      .filter(Boolean)
      .join(' ');

  return (
    <section class="stack" aria-labelledby="mcp-credentials-title">
      <div class="cat-section-header">
        <h2 id="mcp-credentials-title" class="section-title">
          Shared credentials
        </h2>
        <Show when={state.data()}>
          {(data) => (
            <Badge tone={data().complete ? 'success' : 'warning'}>
              {data().complete ? 'complete' : 'incomplete'}
            </Badge>
          )}
        </Show>
      </div>
      <p class="muted">One set of values for everyone who uses this shared MCP.</p>
      <ErrorNotice error={state.error()} title="The credentials could not be loaded" />
      <Show when={!state.data() && state.loading()}>
        <Loading label="Loading credentials…" />
      </Show>
      <Show when={state.data()}>
        {(data) => (
          <Form class="stack" onSubmit={() => void submit()} pending={save.pending()} error={save.error()}>
            <div class="form-grid">
              <For each={data().fields}>
                {(field) => (
                  <div class="cat-stack-tight">
                    <TextField
                      label={field.label}
                      type={field.secret ? 'password' : 'text'}
                      value={currentValue(field)}
                      onInput={(value) => setValues((current) => ({ ...current, [field.name]: value }))}
                      autocomplete={field.secret ? 'new-password' : 'off'}
                      spellcheck={false}
                      maxLength={8192}
                      placeholder={field.secret && field.set ? '•••••••• (set)' : undefined}
                      hint={hintOf(field)}
                      error={fieldError(save.error(), `values.${field.name}`)}
                    />
                    <Show when={field.set}>
                      <div>
                        <Button
                          size="sm"
                          variant="ghost"
                          class="btn-danger-text"
                          aria-label={`Remove the value of ${field.label}`}
                          onClick={() => setRemoving(field)}
                        >
                          Remove value
                        </Button>
                      </div>
                    </Show>
                  </div>
                )}
              </For>
            </div>
            <ErrorNotice error={save.error()} title="The credentials could not be saved" />
            <div>
              <Button type="submit" variant="primary" busy={save.pending()}>
                Save credentials
              </Button>
            </div>
          </Form>
        )}
      </Show>
      <Show when={removing()} keyed>
        {(field) => (
          <ConfirmDialog
            title={`Remove ${field.label}?`}
            confirmLabel="Remove value"
            danger
            onClose={() => setRemoving(null)}
            onConfirm={async () => {
              await trpc.credentials.delete.mutate({ mcpId: props.mcpId, fields: [field.name] });
              setRemoving(null);
              await state.refetch();
              await props.onSaved(`The value of ${field.label} was removed.`);
            }}
          >
            <p>
              The stored value is deleted.
              {field.required ? ' The MCP cannot start again until a new value is set.' : ''}
            </p>
          </ConfirmDialog>
        )}
      </Show>
    </section>
  );
}

/** The downstream OAuth client: its settings, and its secret, which is write-only. */
export function OAuthSection(props: {
  mcpId: string;
  oauth: McpOAuth;
  onSaved: (message: string) => Promise<void>;
}) {
  const [secret, setSecret] = createSignal('');
  const save = createAction(async () => {
    const input = { mcpId: props.mcpId, clientSecret: secret() };
    const checked = validate(SetOAuthClientSecretInput, input);
    if (!checked.ok) throw checked.error;
    return trpc.oauth.setClientSecret.mutate(input);
  });
  const submit = async () => {
    if (await save.run(undefined)) {
      setSecret('');
      await props.onSaved('The OAuth client secret was saved. It is never shown again.');
    }
  };
  const endpoints = () =>
    props.oauth.authorizationEndpoint && props.oauth.tokenEndpoint
      ? `${props.oauth.authorizationEndpoint} · ${props.oauth.tokenEndpoint}`
      : props.oauth.issuer
        ? `discovered from ${props.oauth.issuer}`
        : "discovered from the server's metadata";
  return (
    <section class="stack" aria-labelledby="mcp-oauth-title">
      <h2 id="mcp-oauth-title" class="section-title">
        OAuth
      </h2>
      <dl class="cat-facts">
        <dt>Client ID</dt>
        <dd class="mono">{props.oauth.clientId}</dd>
        <dt>Endpoints</dt>
        <dd class="mono">{endpoints()}</dd>
        <dt>Scopes</dt>
        <dd class="mono">{props.oauth.scopes.join(' ') || '—'}</dd>
        <dt>Access token</dt>
        <dd>
          {props.oauth.inject.into === 'header' ? 'header ' : 'environment variable '}
          <code>{props.oauth.inject.name}</code>
        </dd>
      </dl>
      <Form class="stack" onSubmit={() => void submit()} pending={save.pending()} error={save.error()}>
        <TextField
          label="Client secret"
          type="password"
          value={secret()}
          onInput={setSecret}
          autocomplete="new-password"
          spellcheck={false}
          required
          maxLength={8192}
          hint="Write-only: a stored secret is never shown. Saving replaces any earlier one. Public clients (PKCE only) need none."
          error={fieldError(save.error(), 'clientSecret')}
        />
        <ErrorNotice error={save.error()} title="The client secret could not be saved" />
        <div>
          <Button type="submit" variant="primary" busy={save.pending()}>
            Set client secret
          </Button>
        </div>
      </Form>
    </section>
  );
}

/** Shown when only a candidate version uses OAuth: the secret is set once that version is live. */
export function OAuthPendingNotice() {
  return (
    <Notice tone="info" title="OAuth starts with the next version">
      <p>The candidate version uses OAuth. Publish it, then set the client secret here.</p>
    </Notice>
  );
}
