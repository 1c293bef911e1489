import { CreateFirstAdminInput, type Me } from '@gatehouse/schema';
import { createSignal, Show } from 'solid-js';
import { createAction } from '../../lib/async.js';
import { fieldError, validate } from '../../lib/errors.js';
import { trpc } from '../../lib/trpc.js';
import { Button, ErrorNotice, Form, TextField } from '../../ui/index.js';
import { AuthLayout } from '../auth/AuthLayout.js';

/** First run: creates the first admin, who is signed in straight away. */
export function SetupScreen(props: { onComplete: (me: Me) => void; onAlreadySetUp: () => void }) {
  const [username, setUsername] = createSignal('');
  const [displayName, setDisplayName] = createSignal('');
  const [email, setEmail] = createSignal('');
  const [password, setPassword] = createSignal('');
  const create = createAction((input: CreateFirstAdminInput) => trpc.setup.createFirstAdmin.mutate(input));

  const submit = async () => {
    const input = { username: username(), displayName: displayName(), email: email(), password: password() };
    const checked = validate(CreateFirstAdminInput, input);
    if (!checked.ok) return create.setError(checked.error);
    const me = await create.run(input);
    if (me) props.onComplete(me);
  };

  const error = () => create.error();
  const formError = () => {
    const current = error();
    return current && Object.keys(current.fieldErrors).length === 0 ? current : undefined;
  };

  return (
    <AuthLayout
      title="Set up Gatehouse"
      wide
      intro={
        <p class="muted">
          Create the first administrator account. You will be signed in as this user and can invite others
          afterwards.
        </p>
      }
    >
      <ErrorNotice error={formError()} />
      <Show when={formError()?.code === 'PRECONDITION_FAILED'}>
        <Button onClick={() => props.onAlreadySetUp()}>Go to sign in</Button>
      </Show>
      <Form
        class="auth-form"
        onSubmit={() => void submit()}
        pending={create.pending()}
        error={create.error()}
      >
        <div class="form-grid">
          <TextField
            label="Username"
            name="username"
            value={username()}
            onInput={setUsername}
            autocomplete="username"
            spellcheck={false}
            required
            autofocus
            hint="Letters, digits, dot, dash and underscore."
            error={fieldError(error(), 'username')}
          />
          <TextField
            label="Display name"
            name="displayName"
            value={displayName()}
            onInput={setDisplayName}
            autocomplete="name"
            required
            error={fieldError(error(), 'displayName')}
          />
          <TextField
            class="span-2"
            label="Email"
            name="email"
            type="email"
            value={email()}
            onInput={setEmail}
            autocomplete="email"
            required
            error={fieldError(error(), 'email')}
          />
        </div>
        <TextField
          label="Password"
          name="password"
          type="password"
          value={password()}
          onInput={setPassword}
          autocomplete="new-password"
          required
          hint="At least 12 characters. Avoid common passwords and your username."
          error={fieldError(error(), 'password')}
        />
        <Button type="submit" variant="primary" busy={create.pending()}>
          {create.pending() ? 'Creating administrator…' : 'Create administrator'}
        </Button>
      </Form>
    </AuthLayout>
  );
}
