import {
  CreateUserInput,
  ResetPasswordInput,
  type Role,
  SuspendUserInput,
  UpdateUserInput,
  type User,
} from '@gatehouse/schema';
import { createSignal, Show } from 'solid-js';
import { createAction } from '../../lib/async.js';
import { fieldError, validate } from '../../lib/errors.js';
import { trpc } from '../../lib/trpc.js';
import { ConfirmDialog, Dialog, DialogForm, Notice, Select, TextField } from '../../ui/index.js';
import { roleHint, roleOptions } from './roles.js';

const passwordHint = 'At least 12 characters. Avoid common passwords and the username.';

export function CreateUserDialog(props: { onClose: () => void; onCreated: (user: User) => void }) {
  const [username, setUsername] = createSignal('');
  const [displayName, setDisplayName] = createSignal('');
  const [email, setEmail] = createSignal('');
  const [role, setRole] = createSignal<Role>('user');
  const [password, setPassword] = createSignal('');
  const create = createAction((input: CreateUserInput) => trpc.users.create.mutate(input));

  const submit = async () => {
    const input = {
      username: username(),
      displayName: displayName(),
      email: email(),
      role: role(),
      password: password(),
    };
    const checked = validate(CreateUserInput, input);
    if (!checked.ok) return create.setError(checked.error);
    const user = await create.run(input);
    if (user) props.onCreated(user);
  };

  return (
    <Dialog title="New user" onClose={props.onClose} preventClose={create.pending()} size="lg">
      <DialogForm
        onSubmit={() => void submit()}
        onCancel={props.onClose}
        submitLabel="Create user"
        pending={create.pending()}
        error={create.error()}
      >
        <div class="form-grid">
          <TextField
            label="Username"
            value={username()}
            onInput={setUsername}
            autocomplete="off"
            spellcheck={false}
            required
            hint="Letters, digits, dot, dash and underscore."
            error={fieldError(create.error(), 'username')}
          />
          <TextField
            label="Display name"
            value={displayName()}
            onInput={setDisplayName}
            autocomplete="off"
            required
            error={fieldError(create.error(), 'displayName')}
          />
          <TextField
            class="span-2"
            label="Email"
            type="email"
            value={email()}
            onInput={setEmail}
            autocomplete="off"
            required
            error={fieldError(create.error(), 'email')}
          />
          <Select
            class="span-2"
            label="Role"
            value={role()}
            options={roleOptions}
            onChange={setRole}
            hint={roleHint}
            error={fieldError(create.error(), 'role')}
          />
          <TextField
            class="span-2"
            label="Initial password"
            type="password"
            value={password()}
            onInput={setPassword}
            autocomplete="new-password"
            required
            hint={`${passwordHint} Share it with the user over a secure channel.`}
            error={fieldError(create.error(), 'password')}
          />
        </div>
      </DialogForm>
    </Dialog>
  );
}

export function EditUserDialog(props: {
  user: User;
  isSelf: boolean;
  onClose: () => void;
  onSaved: (user: User) => void;
}) {
  const [displayName, setDisplayName] = createSignal(props.user.displayName);
  const [email, setEmail] = createSignal(props.user.email);
  const [role, setRole] = createSignal<Role>(props.user.role);
  const update = createAction((input: UpdateUserInput) => trpc.users.update.mutate(input));

  const submit = async () => {
    const input = { id: props.user.id, displayName: displayName(), email: email(), role: role() };
    const checked = validate(UpdateUserInput, input);
    if (!checked.ok) return update.setError(checked.error);
    const user = await update.run(input);
    if (user) props.onSaved(user);
  };

  return (
    <Dialog
      title={`Edit ${props.user.username}`}
      onClose={props.onClose}
      preventClose={update.pending()}
      description="The username cannot be changed."
    >
      <DialogForm
        onSubmit={() => void submit()}
        onCancel={props.onClose}
        submitLabel="Save changes"
        pending={update.pending()}
        error={update.error()}
      >
        <TextField
          label="Display name"
          value={displayName()}
          onInput={setDisplayName}
          autocomplete="off"
          required
          error={fieldError(update.error(), 'displayName')}
        />
        <TextField
          label="Email"
          type="email"
          value={email()}
          onInput={setEmail}
          autocomplete="off"
          required
          error={fieldError(update.error(), 'email')}
        />
        <Select
          label="Role"
          value={role()}
          options={roleOptions}
          onChange={setRole}
          hint={roleHint}
          error={fieldError(update.error(), 'role')}
        />
        <Show when={props.isSelf && role() !== 'admin'}>
          <Notice tone="warning">
            You are removing your own admin role. You will lose access to these controls.
          </Notice>
        </Show>
      </DialogForm>
    </Dialog>
  );
}

export function ResetPasswordDialog(props: {
  user: User;
  isSelf: boolean;
  onClose: () => void;
  onDone: () => void;
}) {
  const [password, setPassword] = createSignal('');
  const reset = createAction((input: ResetPasswordInput) => trpc.users.resetPassword.mutate(input));

  const submit = async () => {
    const input = { id: props.user.id, newPassword: password() };
    const checked = validate(ResetPasswordInput, input);
    if (!checked.ok) return reset.setError(checked.error);
    if (await reset.run(input)) props.onDone();
  };

  return (
    <Dialog
      title={`Reset password for ${props.user.username}`}
      onClose={props.onClose}
      preventClose={reset.pending()}
      description={
        props.isSelf
          ? 'This signs you out everywhere, including here. Sign in again with the new password.'
          : 'This signs the user out of every session. Share the new password over a secure channel.'
      }
    >
      <DialogForm
        onSubmit={() => void submit()}
        onCancel={props.onClose}
        submitLabel="Set new password"
        pending={reset.pending()}
        error={reset.error()}
      >
        <TextField
          label="New password"
          type="password"
          value={password()}
          onInput={setPassword}
          autocomplete="new-password"
          required
          hint={passwordHint}
          error={fieldError(reset.error(), 'newPassword')}
        />
      </DialogForm>
    </Dialog>
  );
}

export function SuspendDialog(props: {
  user: User;
  onClose: () => void;
  onDone: (message: string) => Promise<void>;
}) {
  const [reason, setReason] = createSignal('');
  return (
    <ConfirmDialog
      title={`Suspend ${props.user.username}?`}
      confirmLabel="Suspend user"
      danger
      onClose={props.onClose}
      onConfirm={async () => {
        const input = { id: props.user.id, reason: reason().trim() || undefined };
        const checked = validate(SuspendUserInput, input);
        if (!checked.ok) throw checked.error;
        await trpc.users.suspend.mutate(input);
        await props.onDone(`${props.user.username} was suspended and signed out everywhere.`);
      }}
    >
      <p>
        {props.user.displayName} will be signed out at once and cannot sign in until reactivated. Their API
        tokens stop working too.
      </p>
      <TextField
        label="Reason (optional)"
        value={reason()}
        onInput={setReason}
        rows={2}
        maxLength={500}
        hint="Recorded in the audit log."
      />
    </ConfirmDialog>
  );
}
