import type { Me } from '@gatehouse/schema';
import { createEffect, createMemo, createSignal, Match, onMount, Show, Switch } from 'solid-js';
import { SignInScreen } from './features/auth/SignInScreen.js';
import { ConsentScreen } from './features/consent/ConsentScreen.js';
import { rememberConsent, takeRememberedConsent } from './features/consent/return-to.js';
import { SetupScreen } from './features/setup/SetupScreen.js';
import { Shell } from './features/shell/Shell.js';
import { type AppError, toAppError } from './lib/errors.js';
import { paths, route } from './lib/router.js';
import { me, signedIn } from './lib/session.js';
import { trpc } from './lib/trpc.js';
import { Button, ErrorNotice, Loading } from './ui/index.js';

type Phase =
  | { name: 'starting' }
  | { name: 'unreachable'; error: AppError }
  | { name: 'setup' }
  | { name: 'ready' };

/** Decides what to show: first-run setup, sign-in, or the signed-in portal. */
export function App() {
  const [phase, setPhase] = createSignal<Phase>({ name: 'starting' });

  async function start() {
    setPhase({ name: 'starting' });
    try {
      const status = await trpc.setup.status.query();
      if (status.setupRequired) return setPhase({ name: 'setup' });
      try {
        signedIn(await trpc.auth.me.query());
      } catch (caught) {
        // Not signed in (or the session is gone): the sign-in screen handles it.
        if (toAppError(caught).code !== 'UNAUTHENTICATED') throw caught;
      }
      setPhase({ name: 'ready' });
    } catch (caught) {
      setPhase({ name: 'unreachable', error: toAppError(caught) });
    }
  }

  onMount(() => void start());

  const unreachable = () => {
    const current = phase();
    return current.name === 'unreachable' ? current : undefined;
  };

  const consentUid = () => {
    const current = route();
    return current.name === 'consent' ? current.uid : undefined;
  };

  // A consent request waiting for a sign-in is remembered for this tab while the sign-in screen stands in for
  // it, and resumed after the sign-in even when that came back to the portal's root (single sign-on).
  createEffect(() => {
    const uid = consentUid();
    if (phase().name === 'ready' && !me() && uid) rememberConsent(uid);
  });
  /** The consent request to show instead of the portal: the route's, or a remembered one (used once). */
  const consentTarget = createMemo(() => {
    if (phase().name !== 'ready' || !me()) return undefined;
    const uid = consentUid();
    const remembered = takeRememberedConsent();
    if (uid) return uid;
    if (!remembered || route().name !== 'home') return undefined;
    queueMicrotask(() => window.location.replace(paths.consent(remembered)));
    return remembered;
  });

  const setupDone = (principal: Me) => {
    signedIn(principal);
    setPhase({ name: 'ready' });
  };

  return (
    <Switch>
      <Match when={phase().name === 'starting'}>
        <div class="full-page-state">
          <Loading label="Loading Gatehouse…" />
        </div>
      </Match>
      <Match when={unreachable()}>
        {(current) => (
          <div class="full-page-state">
            <div class="stack" style={{ 'max-width': '32rem' }}>
              <ErrorNotice error={current().error} title="The portal could not start" />
              <div>
                <Button variant="primary" onClick={() => void start()}>
                  Try again
                </Button>
              </div>
            </div>
          </div>
        )}
      </Match>
      <Match when={phase().name === 'setup'}>
        <SetupScreen onComplete={setupDone} onAlreadySetUp={() => void start()} />
      </Match>
      <Match when={phase().name === 'ready'}>
        <Show when={me()} fallback={<SignInScreen />}>
          {(principal) => (
            // An OAuth consent request is answered full page, without the portal's navigation.
            <Show when={consentTarget()} keyed fallback={<Shell me={principal()} />}>
              {(uid) => <ConsentScreen uid={uid} me={principal()} />}
            </Show>
          )}
        </Show>
      </Match>
    </Switch>
  );
}
