import { LoginInput } from '@gatehouse/schema';
import { createSignal, For, Show } from 'solid-js';
import { createAction, createQuery } from '../../lib/async.js';
import { fieldError, validate } from '../../lib/errors.js';
import { signedIn, signInNotice } from '../../lib/session.js';
import { trpc } from '../../lib/trpc.js';
import { Button, ErrorNotice, Form, Notice, TextField } from '../../ui/index.js';
import { AuthLayout } from './AuthLayout.js';
import { returnToParam, takeSsoError } from './sso-errors.js';

export function SignInScreen() {
  const [username, setUsername] = createSignal('');
  const [password, setPassword] = createSignal('');
  const ssoError = takeSsoError();
  const options = createQuery(
    () => true,
    () => trpc.sso.signInOptions.query(),
  );
  const providers = () => options.data()?.providers ?? [];
  // With "admins only", the password form is for break-glass admins: one click away, not the default.
  const [showPasswordForm, setShowPasswordForm] = createSignal(false);
  const passwordFormShown = () =>
    showPasswordForm() || (options.data() !== undefined && options.data()?.localPasswords !== 'admins_only');
  const login = createAction(async (input: { username: string; password: string }) => {
    const me = await trpc.auth.login.mutate(input);
    signedIn(me);
    return me;
  });

  const submit = () => {
    const checked = validate(LoginInput, { username: username(), password: password() });
    if (!checked.ok) return login.setError(checked.error);
    void login.run({ username: username(), password: password() }).then((me) => {
      if (!me) setPassword('');
    });
  };

  // A form-level error ("Invalid username or password") replaces the field-by-field view.
  const formError = () => {
    const error = login.error();
    return error && Object.keys(error.fieldErrors).length === 0 ? error : undefined;
  };

  return (
    <AuthLayout
      title="Sign in"
      intro={<p class="muted">Sign in to administer this Gatehouse installation.</p>}
    >
      <Show when={signInNotice()}>{(notice) => <Notice tone="info">{notice()}</Notice>}</Show>
      <Show when={ssoError}>
        {(message) => (
          <Notice tone="error" title="Single sign-on failed">
            {message()}
          </Notice>
        )}
      </Show>
      <Show when={providers().length > 0}>
        <div class="stack sso-buttons">
          <For each={providers()}>
            {(provider) => (
              <a
                class="btn btn-primary"
                style={{ 'text-decoration': 'none', 'justify-content': 'center' }}
                href={`/auth/sso/${encodeURIComponent(provider.slug)}/start${returnToParam()}`}
              >
                Sign in with {provider.displayName}
              </a>
            )}
          </For>
        </div>
      </Show>
      <Show when={!passwordFormShown() && options.data()}>
        <Button variant="ghost" onClick={() => setShowPasswordForm(true)}>
          Sign in with a password
        </Button>
      </Show>
      <Show when={passwordFormShown() || options.error()}>
        <ErrorNotice error={formError()} />
        <Form class="auth-form" onSubmit={submit} pending={login.pending()} error={login.error()}>
          <TextField
            label="Username"
            name="username"
            value={username()}
            onInput={setUsername}
            autocomplete="username"
            spellcheck={false}
            required
            autofocus
            error={fieldError(login.error(), 'username')}
          />
          <TextField
            label="Password"
            name="password"
            type="password"
            value={password()}
            onInput={setPassword}
            autocomplete="current-password"
            required
            error={fieldError(login.error(), 'password')}
          />
          <Button type="submit" variant="primary" busy={login.pending()}>
            {login.pending() ? 'Signing in…' : 'Sign in'}
          </Button>
        </Form>
      </Show>
    </AuthLayout>
  );
}
