import { type Client, type ClientKind, type ClientWithKey, CreateClientInput } from '@gatehouse/schema';
import { createSignal, Show } from 'solid-js';
import { createAction } from '../../lib/async.js';
import { fieldError, validate } from '../../lib/errors.js';
import { trpc } from '../../lib/trpc.js';
import {
  Button,
  ConfirmDialog,
  Dialog,
  DialogForm,
  Field,
  Notice,
  Select,
  TextField,
} from '../../ui/index.js';
import { ConnectionSnippets } from './ConnectionSnippets.js';
import { CopyButton } from './CopyButton.js';
import { isOAuthClient, kindLabels, kindOptions } from './client-labels.js';

/** Name and kind of a new client; on success the caller shows its key with `ClientKeyDialog`. */
export function CreateClientDialog(props: {
  onClose: () => void;
  onCreated: (created: ClientWithKey) => void;
}) {
  const [name, setName] = createSignal('');
  const [kind, setKind] = createSignal<ClientKind>('claude-code');
  const create = createAction(async () => {
    const input = { name: name(), kind: kind() };
    const checked = validate(CreateClientInput, input);
    if (!checked.ok) throw checked.error;
    return trpc.clients.create.mutate(checked.data);
  });

  const submit = async () => {
    const created = await create.run(undefined);
    if (created) props.onCreated(created);
  };

  return (
    <Dialog
      title="New client"
      description="A client is one AI app on one machine. It gets its own key, so it can be suspended or revoked on its own."
      onClose={props.onClose}
      preventClose={create.pending()}
    >
      <DialogForm
        onSubmit={() => void submit()}
        onCancel={props.onClose}
        submitLabel="Create client"
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
          hint="Where it runs, for example “Laptop – Claude Code”."
          error={fieldError(create.error(), 'name')}
        />
        <Select
          label="Kind"
          value={kind()}
          options={kindOptions}
          onChange={setKind}
          required
          hint="Chooses which connection instructions come first."
          error={fieldError(create.error(), 'kind')}
        />
      </DialogForm>
    </Dialog>
  );
}

/**
 * Shows a client key exactly once (after creation or rotation), with the connection snippets filled in. It
 * closes like any dialog (Escape included); a lost key is replaced by rotating.
 */
export function ClientKeyDialog(props: {
  title: string;
  created: ClientWithKey;
  onClose: () => void;
  /** Offered as a second way out, for example "Add MCPs" after creation. */
  next?: { label: string; run: () => void };
}) {
  let input: HTMLInputElement | undefined;
  return (
    <Dialog title={props.title} onClose={props.onClose} size="lg">
      <div class="dialog-body">
        <Notice tone="warning" title="Copy this key now">
          <p>
            This is the only time the key is shown: it won't be shown again. Gatehouse keeps only a hash of
            it. If you lose it, rotate the key to get a new one.
          </p>
        </Notice>
        <div class="secret">
          <div style={{ flex: '1', 'min-width': '0' }}>
            <Field
              label="Client key"
              hint={`Key of ${props.created.client.name} (${kindLabels[props.created.client.kind]}).`}
            >
              {(frame) => (
                <input
                  id={frame.id}
                  ref={input}
                  class="input"
                  aria-label="Client key"
                  aria-describedby={frame.describedBy}
                  value={props.created.key}
                  readOnly
                  spellcheck={false}
                  autocomplete="off"
                />
              )}
            </Field>
          </div>
          <div class="secret-button">
            <CopyButton text={props.created.key} target={() => input} variant="primary" autofocus />
          </div>
        </div>
        <h3 class="section-title">Connect {props.created.client.name}</h3>
        <ConnectionSnippets kind={props.created.client.kind} clientKey={props.created.key} />
      </div>
      <div class="dialog-actions">
        <Show when={props.next}>
          {(next) => <Button onClick={() => next().run()}>{next().label}</Button>}
        </Show>
        <Button variant="primary" onClick={() => props.onClose()}>
          I have stored the key
        </Button>
      </div>
    </Dialog>
  );
}

export type ClientAction = 'rotate' | 'suspend' | 'reactivate' | 'revoke';

/**
 * Confirms a change to a client and makes the call. `onDone` gets a message to show, and after a rotation
 * the new key, which the caller shows once.
 */
export function ClientActionDialog(props: {
  action: ClientAction;
  client: Client;
  onClose: () => void;
  onDone: (message: string, rotated?: ClientWithKey) => Promise<void> | void;
}) {
  const name = () => props.client.name;
  const text = {
    rotate: {
      title: () => `Rotate the key of ${name()}?`,
      confirm: 'Rotate key',
      danger: true,
      body: () => (
        <>
          <p>
            The current key of <strong>{name()}</strong> stops working at once, and any open session of it
            ends.
          </p>
          <p>The new key is shown once; put it in the client's configuration.</p>
        </>
      ),
    },
    suspend: {
      title: () => `Suspend ${name()}?`,
      confirm: 'Suspend client',
      danger: true,
      body: () => (
        <p>
          <strong>{name()}</strong> cannot connect until you reactivate it. Its key and subscriptions are
          kept.
        </p>
      ),
    },
    reactivate: {
      title: () => `Reactivate ${name()}?`,
      confirm: 'Reactivate client',
      danger: false,
      body: () => (
        <p>
          <strong>{name()}</strong> can connect again with its current key.
        </p>
      ),
    },
    revoke: isOAuthClient(props.client)
      ? {
          title: () => `Revoke access of ${name()}?`,
          confirm: 'Revoke access',
          danger: true,
          body: () => (
            <>
              <p>
                <strong>{name()}</strong> loses access at once: every OAuth token it holds stops working.
              </p>
              <p>
                To connect again it will have to ask you again, and you choose its MCPs and tools anew. This
                cannot be undone.
              </p>
            </>
          ),
        }
      : {
          title: () => `Revoke ${name()}?`,
          confirm: 'Revoke client',
          danger: true,
          body: () => (
            <p>
              <strong>{name()}</strong> can no longer connect, and its key cannot be renewed. This cannot be
              undone.
            </p>
          ),
        },
  }[props.action];

  const perform = async () => {
    const id = props.client.id;
    switch (props.action) {
      case 'rotate': {
        const rotated = await trpc.clients.rotateKey.mutate({ id });
        return props.onDone(`The key of ${name()} was rotated; the old key no longer works.`, rotated);
      }
      case 'suspend':
        await trpc.clients.suspend.mutate({ id });
        return props.onDone(`${name()} was suspended.`);
      case 'reactivate':
        await trpc.clients.reactivate.mutate({ id });
        return props.onDone(`${name()} was reactivated.`);
      case 'revoke':
        await trpc.clients.revoke.mutate({ id });
        return props.onDone(
          isOAuthClient(props.client)
            ? `${name()} no longer has access; it will have to ask you again.`
            : `${name()} was revoked.`,
        );
    }
  };

  return (
    <ConfirmDialog
      title={text.title()}
      confirmLabel={text.confirm}
      danger={text.danger}
      onClose={props.onClose}
      onConfirm={perform}
    >
      {text.body()}
    </ConfirmDialog>
  );
}

/** Which actions a client in this status offers. An OAuth client has no key, so nothing to rotate. */
export const actionsFor = (client: Client): ClientAction[] => {
  const actions: ClientAction[] =
    client.status === 'active'
      ? ['rotate', 'suspend', 'revoke']
      : client.status === 'suspended'
        ? ['rotate', 'reactivate', 'revoke']
        : [];
  return isOAuthClient(client) ? actions.filter((action) => action !== 'rotate') : actions;
};

/** The label of an action for this client ("Revoke access" for an OAuth client). */
export const actionLabelFor = (client: Client, action: ClientAction): string =>
  action === 'revoke' && isOAuthClient(client) ? 'Revoke access' : actionLabels[action];

export const actionLabels: Record<ClientAction, string> = {
  rotate: 'Rotate key',
  suspend: 'Suspend',
  reactivate: 'Reactivate',
  revoke: 'Revoke',
};
