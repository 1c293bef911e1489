import { CreateApiTokenInput, type CreatedApiToken } from '@gatehouse/schema';
import { createSignal, Show } from 'solid-js';
import { createAction } from '../../lib/async.js';
import { fieldError, validate } from '../../lib/errors.js';
import { formatDate } from '../../lib/format.js';
import { me } from '../../lib/session.js';
import { trpc } from '../../lib/trpc.js';
import { Button, Dialog, DialogForm, Notice, Select, type SelectOption, TextField } from '../../ui/index.js';
import { roleLabels } from '../users/roles.js';

type Expiry = 'never' | '7' | '30' | '90' | '365';
const expiryOptions: readonly SelectOption<Expiry>[] = [
  { value: '30', label: '30 days' },
  { value: '90', label: '90 days' },
  { value: '365', label: '1 year' },
  { value: '7', label: '7 days' },
  { value: 'never', label: 'Never' },
];

/** Two steps: name the token, then show its secret exactly once. */
export function CreateTokenDialog(props: {
  onClose: () => void;
  onCreated: (created: CreatedApiToken) => void;
}) {
  const [name, setName] = createSignal('');
  const [expiry, setExpiry] = createSignal<Expiry>('90');
  const [created, setCreated] = createSignal<CreatedApiToken | null>(null);
  const create = createAction(async () => {
    const input = { name: name(), expiresInDays: expiry() === 'never' ? undefined : Number(expiry()) };
    const checked = validate(CreateApiTokenInput, input);
    if (!checked.ok) throw checked.error;
    return trpc.apiTokens.create.mutate(input);
  });

  const submit = async () => {
    const result = await create.run(undefined);
    if (result) {
      setCreated(result);
      props.onCreated(result);
    }
  };

  const role = () => me()?.user.role;

  return (
    <Show
      when={created()}
      fallback={
        <Dialog title="New API token" onClose={props.onClose} preventClose={create.pending()}>
          <DialogForm
            onSubmit={() => void submit()}
            onCancel={props.onClose}
            submitLabel="Create token"
            pending={create.pending()}
            error={create.error()}
          >
            <TextField
              label="Name"
              value={name()}
              onInput={setName}
              autocomplete="off"
              required
              maxLength={128}
              hint="What uses this token, for example “CI deploy job”."
              error={fieldError(create.error(), 'name')}
            />
            <Select
              label="Expires after"
              value={expiry()}
              options={expiryOptions}
              onChange={setExpiry}
              error={fieldError(create.error(), 'expiresInDays')}
            />
            <Show when={role()}>
              {(current) => (
                <p class="field-hint">
                  The token acts with your role, <strong>{roleLabels[current()]}</strong>, for as long as your
                  account is active.
                </p>
              )}
            </Show>
          </DialogForm>
        </Dialog>
      }
    >
      {(result) => <TokenSecretDialog created={result()} onClose={props.onClose} />}
    </Show>
  );
}

function TokenSecretDialog(props: { created: CreatedApiToken; onClose: () => void }) {
  let input: HTMLInputElement | HTMLTextAreaElement | undefined;
  const [copyState, setCopyState] = createSignal<'idle' | 'copied' | 'failed'>('idle');

  const copy = async () => {
    try {
      if (!navigator.clipboard) throw new Error('Clipboard unavailable');
      await navigator.clipboard.writeText(props.created.token);
      setCopyState('copied');
    } catch {
      // Without clipboard access (plain http, or refused), select the text so the user can copy it.
      input?.focus();
      input?.select();
      setCopyState('failed');
    }
  };

  return (
    <Dialog
      title={`Token ${props.created.apiToken.name} created`}
      onClose={props.onClose}
      // Escape must not throw the secret away by accident.
      preventClose
    >
      <div class="dialog-body">
        <Notice tone="warning" title="Copy this token now">
          <p>
            This is the only time the token is shown. Gatehouse keeps only a hash of it and cannot show it
            again.
          </p>
        </Notice>
        <div class="secret">
          <div style={{ flex: '1', 'min-width': '0' }}>
            <TextField
              label="API token"
              value={props.created.token}
              onInput={() => undefined}
              readOnly
              spellcheck={false}
              ref={(element) => {
                input = element;
              }}
              hint={
                props.created.apiToken.expiresAt
                  ? `Expires ${formatDate(props.created.apiToken.expiresAt)}.`
                  : 'Does not expire; revoke it when it is no longer needed.'
              }
            />
          </div>
          <div class="secret-button">
            <Button variant="primary" onClick={() => void copy()} autofocus>
              Copy
            </Button>
          </div>
        </div>
        <div class="stack" style={{ gap: 'var(--space-1)' }}>
          <p class="field-hint" role="status">
            {copyState() === 'copied'
              ? 'Copied to the clipboard.'
              : copyState() === 'failed'
                ? 'Could not copy automatically: the token is selected, press Ctrl+C (⌘C on a Mac).'
                : ''}
          </p>
          <p class="field-hint">
            Send it as <code>Authorization: Bearer &lt;token&gt;</code>.
          </p>
        </div>
      </div>
      <div class="dialog-actions">
        <Button onClick={() => props.onClose()}>I have stored the token</Button>
      </div>
    </Dialog>
  );
}
