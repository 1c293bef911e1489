import {
  CreateSsoProviderInput,
  type LocalPasswords,
  type SsoProvider,
  UpdateSsoProviderInput,
} from '@gatehouse/schema';
import { createSignal, Show } from 'solid-js';
import { createAction, createQuery } from '../../lib/async.js';
import { fieldError, validate } from '../../lib/errors.js';
import { showFlash } from '../../lib/flash.js';
import { canManage } from '../../lib/session.js';
import { trpc } from '../../lib/trpc.js';
import {
  Badge,
  Button,
  type Column,
  ConfirmDialog,
  Dialog,
  DialogForm,
  ErrorNotice,
  Loading,
  PageHeader,
  Select,
  Table,
  TextField,
} from '../../ui/index.js';
import { draftOf, emptyDraft, inputOf, type ProviderDraft } from './provider-form.js';

type OpenDialog = 'new' | { editing: SsoProvider } | { deleting: SsoProvider } | undefined;

const passwordOptions = [
  { value: 'everyone' as const, label: 'Everyone may use a local password' },
  { value: 'admins_only' as const, label: 'Admins only (break-glass); everyone else signs in with SSO' },
];

/** Single sign-on: the OpenID providers people sign in with, and who may still use a local password. */
export function SsoAdminScreen() {
  const providers = createQuery(
    () => true,
    () => trpc.sso.providers.query(),
  );
  const policy = createQuery(
    () => true,
    () => trpc.sso.localPasswords.query(),
  );
  const [dialog, setDialog] = createSignal<OpenDialog>();
  const savePolicy = createAction((localPasswords: LocalPasswords) =>
    trpc.sso.setLocalPasswords.mutate({ localPasswords }),
  );
  const done = async (message: string) => {
    setDialog(undefined);
    showFlash(message);
    await providers.refetch();
  };

  const columns: Column<SsoProvider>[] = [
    { header: 'Provider', cell: (p) => <span class="cell-primary">{p.displayName}</span> },
    { header: 'Slug', cell: (p) => <code>{p.slug}</code> },
    { header: 'Issuer', cell: (p) => p.issuer },
    { header: 'Client secret', cell: (p) => p.clientSecret },
    {
      header: 'Email domains',
      cell: (p) => (p.allowAnyDomain ? 'any' : p.allowedDomains.join(', ')),
    },
    {
      header: 'Status',
      cell: (p) => (
        <Badge tone={p.enabled ? 'success' : 'neutral'}>{p.enabled ? 'enabled' : 'disabled'}</Badge>
      ),
    },
    ...(canManage()
      ? [
          {
            header: <span class="sr-only">Actions</span>,
            class: 'col-actions',
            cell: (p: SsoProvider) => (
              <div class="table-actions">
                <Button size="sm" variant="ghost" onClick={() => setDialog({ editing: p })}>
                  Edit
                </Button>
                <Button
                  size="sm"
                  variant="ghost"
                  class="btn-danger-text"
                  onClick={() => setDialog({ deleting: p })}
                >
                  Delete
                </Button>
              </div>
            ),
          },
        ]
      : []),
  ];

  const editing = () => {
    const current = dialog();
    return current && typeof current === 'object' && 'editing' in current ? current.editing : undefined;
  };
  const deleting = () => {
    const current = dialog();
    return current && typeof current === 'object' && 'deleting' in current ? current.deleting : undefined;
  };

  return (
    <>
      <PageHeader
        title="Single sign-on"
        description="OpenID Connect providers people sign in to the portal with."
        actions={
          <Show when={canManage()}>
            <Button variant="primary" onClick={() => setDialog('new')}>
              Add provider
            </Button>
          </Show>
        }
      />
      <section class="stack">
        <h2>Local passwords</h2>
        <Show when={policy.data()} fallback={<Loading label="Loading the setting…" />}>
          {(current) => (
            <Select
              label="Who may sign in with a local password"
              value={current().localPasswords}
              options={passwordOptions}
              disabled={!canManage() || savePolicy.pending()}
              onChange={(value) =>
                void savePolicy.run(value).then((saved) => {
                  if (saved) {
                    showFlash('The local-password setting was saved.');
                    void policy.refetch();
                  }
                })
              }
            />
          )}
        </Show>
        <ErrorNotice error={savePolicy.error() ?? policy.error()} />
      </section>
      <section class="stack">
        <h2>Providers</h2>
        <ErrorNotice error={providers.error()} />
        <Show when={providers.data()} fallback={<Loading label="Loading providers…" />}>
          {(list) => (
            <Table
              caption="Single sign-on providers"
              columns={columns}
              rows={list().items}
              empty="No providers yet: people sign in with local passwords."
            />
          )}
        </Show>
      </section>
      <Show when={dialog() === 'new'}>
        <ProviderDialog
          onClose={() => setDialog(undefined)}
          onSaved={(p) => done(`${p.displayName} was added.`)}
        />
      </Show>
      <Show when={editing()}>
        {(provider) => (
          <ProviderDialog
            provider={provider()}
            onClose={() => setDialog(undefined)}
            onSaved={(p) => done(`${p.displayName} was saved.`)}
          />
        )}
      </Show>
      <Show when={deleting()}>
        {(provider) => (
          <ConfirmDialog
            title={`Delete ${provider().displayName}?`}
            confirmLabel="Delete provider"
            danger
            onClose={() => setDialog(undefined)}
            onConfirm={async () => {
              await trpc.sso.deleteProvider.mutate({ id: provider().id });
              await done(`${provider().displayName} was deleted.`);
            }}
          >
            People can no longer sign in with it, and the group memberships it managed are removed.
          </ConfirmDialog>
        )}
      </Show>
    </>
  );
}

function ProviderDialog(props: {
  provider?: SsoProvider;
  onClose: () => void;
  onSaved: (provider: SsoProvider) => void;
}) {
  const [draft, setDraft] = createSignal<ProviderDraft>(
    props.provider ? draftOf(props.provider) : emptyDraft(),
  );
  const set = (field: keyof ProviderDraft) => (value: string) => setDraft({ ...draft(), [field]: value });
  const save = createAction(async () => {
    const current = draft();
    const existing = props.provider;
    if (existing) {
      const input = {
        id: existing.id,
        ...inputOf(current),
        ...(current.clientSecret && { clientSecret: current.clientSecret }),
      };
      const checked = validate(UpdateSsoProviderInput, input);
      if (!checked.ok) throw checked.error;
      return trpc.sso.updateProvider.mutate(input);
    }
    const input = { slug: current.slug, clientSecret: current.clientSecret, ...inputOf(current) };
    const checked = validate(CreateSsoProviderInput, input);
    if (!checked.ok) throw checked.error;
    return trpc.sso.createProvider.mutate(input);
  });
  const error = (field: string) => fieldError(save.error(), field);
  const redirectUri = () => `${window.location.origin}/auth/sso/${draft().slug || '<slug>'}/callback`;

  return (
    <Dialog
      title={props.provider ? `Edit ${props.provider.displayName}` : 'New single sign-on provider'}
      onClose={props.onClose}
      preventClose={save.pending()}
      size="lg"
    >
      <DialogForm
        onSubmit={() =>
          void save.run(undefined).then((saved) => {
            if (saved) props.onSaved(saved);
          })
        }
        error={save.error()}
        submitLabel={props.provider ? 'Save provider' : 'Add provider'}
        pending={save.pending()}
        onCancel={props.onClose}
      >
        <TextField
          label="Slug"
          value={draft().slug}
          onInput={set('slug')}
          readOnly={props.provider !== undefined}
          required
          hint={
            <>
              Register this redirect URI at the provider: <code>{redirectUri()}</code>
            </>
          }
          error={error('slug')}
        />
        <TextField
          label="Display name"
          value={draft().displayName}
          onInput={set('displayName')}
          required
          error={error('displayName')}
        />
        <TextField
          label="Issuer URL"
          value={draft().issuer}
          onInput={set('issuer')}
          required
          error={error('issuer')}
        />
        <TextField
          label="Client ID"
          value={draft().clientId}
          onInput={set('clientId')}
          required
          error={error('clientId')}
        />
        <TextField
          label="Client secret"
          type="password"
          value={draft().clientSecret}
          onInput={set('clientSecret')}
          autocomplete="off"
          required={props.provider === undefined}
          hint={
            props.provider ? `Currently ${props.provider.clientSecret}; leave empty to keep it.` : undefined
          }
          error={error('clientSecret')}
        />
        <TextField label="Scopes" value={draft().scopes} onInput={set('scopes')} error={error('scopes')} />
        <TextField
          label="Groups claim"
          value={draft().groupsClaim}
          onInput={set('groupsClaim')}
          error={error('groupsClaim')}
        />
        <TextField
          label="Group mappings"
          rows={4}
          value={draft().groupMappings}
          onInput={set('groupMappings')}
          hint="One a line: claim value = Gatehouse group (created if missing)."
          error={error('groupMappings')}
        />
        <TextField
          label="Role mappings"
          rows={3}
          value={draft().roleMappings}
          onInput={set('roleMappings')}
          hint="One a line: claim value = admin, auditor or user. Without a match the role is user."
          error={error('roleMappings')}
        />
        <TextField
          label="Allowed email domains"
          value={draft().allowedDomains}
          onInput={set('allowedDomains')}
          disabled={draft().allowAnyDomain}
          hint="Separated by spaces. Only verified addresses at these domains may sign in."
          error={error('allowedDomains')}
        />
        <label class="checkbox">
          <input
            type="checkbox"
            checked={draft().allowAnyDomain}
            onChange={(event) => setDraft({ ...draft(), allowAnyDomain: event.currentTarget.checked })}
          />{' '}
          Allow any email domain (everyone the provider signs in may use Gatehouse)
        </label>
        <Show when={error('allowAnyDomain')}>
          {(messages) => <div class="field-error">{messages().join(' ')}</div>}
        </Show>
        <label class="checkbox">
          <input
            type="checkbox"
            checked={draft().enabled}
            onChange={(event) => setDraft({ ...draft(), enabled: event.currentTarget.checked })}
          />{' '}
          Enabled (shown on the sign-in screen)
        </label>
      </DialogForm>
    </Dialog>
  );
}
