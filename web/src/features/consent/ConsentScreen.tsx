import type { Me } from '@gatehouse/schema';
import { createSignal, For, Match, onMount, Show, Switch } from 'solid-js';
import { createAction } from '../../lib/async.js';
import type { AppError } from '../../lib/errors.js';
import { SESSION_ENDED_MESSAGE, signedOut } from '../../lib/session.js';
import { trpc } from '../../lib/trpc.js';
import { Badge, Button, ErrorNotice, Loading, Notice } from '../../ui/index.js';
import { Brand } from '../auth/AuthLayout.js';
import { ToolPicker } from '../my-clients/SubscriptionDialog.js';
import { type ConsentDetails, type ConsentMcp, consentApi } from './consent-api.js';
import {
  canApprove,
  choiceError,
  initialChoices,
  isFollowableRedirect,
  type McpChoice,
  redirectHost,
  registrationText,
  safeLogoUrl,
  subscriptionsOf,
} from './consent-view.js';
import './consent.css';

type State =
  | { name: 'loading' }
  | { name: 'failed'; error: AppError }
  | { name: 'ready'; details: ConsentDetails }
  | { name: 'leaving'; clientName: string; approved: boolean };

/**
 * The OAuth consent step (`#/consent/<uid>`): which app asks, how it proved who it is, and which of the
 * person's MCPs and tools it may use. Shown full page, without the portal's navigation; the app shows the
 * sign-in screen first when nobody is signed in, and this screen again afterwards.
 */
export function ConsentScreen(props: { uid: string; me: Me }) {
  const [state, setState] = createSignal<State>({ name: 'loading' });
  document.title = 'Allow access · Gatehouse';

  async function load() {
    setState({ name: 'loading' });
    try {
      setState({ name: 'ready', details: await consentApi.details(props.uid) });
    } catch (caught) {
      const error = caught as AppError;
      // The session ended since the portal loaded: sign in again, then this screen comes back.
      if (error.code === 'UNAUTHENTICATED') return signedOut(SESSION_ENDED_MESSAGE);
      setState({ name: 'failed', error });
    }
  }
  onMount(() => void load());

  const signOut = createAction(async () => {
    await trpc.auth.logout.mutate();
    signedOut('You have signed out. Sign in to answer the request.');
  });

  const ready = () => {
    const current = state();
    return current.name === 'ready' ? current.details : undefined;
  };
  const leaving = () => {
    const current = state();
    return current.name === 'leaving' ? current : undefined;
  };
  const failed = () => {
    const current = state();
    return current.name === 'failed' ? current.error : undefined;
  };

  return (
    <main class="auth-page">
      <Brand class="auth-brand" />
      <section class="auth-card consent-card" aria-labelledby="consent-title">
        <Switch>
          <Match when={state().name === 'loading'}>
            <h1 id="consent-title" class="auth-title">
              Allow access
            </h1>
            <Loading label="Loading the request…" />
          </Match>
          <Match when={failed()}>
            {(error) => (
              <>
                <h1 id="consent-title" class="auth-title">
                  Allow access
                </h1>
                <ErrorNotice error={error()} title="This request cannot be answered" />
                <div class="row">
                  <Button onClick={() => void load()}>Try again</Button>
                </div>
              </>
            )}
          </Match>
          <Match when={leaving()}>
            {(current) => (
              <>
                <h1 id="consent-title" class="auth-title">
                  {current().approved ? 'Access allowed' : 'Access denied'}
                </h1>
                <Loading label={`Returning you to ${current().clientName}…`} />
              </>
            )}
          </Match>
          <Match when={ready()}>
            {(details) => (
              <ConsentForm
                uid={props.uid}
                me={props.me}
                details={details()}
                onAnswered={(redirectTo, approved) => {
                  setState({ name: 'leaving', clientName: details().client.name, approved });
                  window.location.href = redirectTo;
                }}
              />
            )}
          </Match>
        </Switch>
        <p class="consent-account">
          Signed in as <strong>{props.me.user.displayName}</strong> ({props.me.user.username}).{' '}
          <Button
            size="sm"
            variant="ghost"
            onClick={() => void signOut.run(undefined)}
            busy={signOut.pending()}
          >
            Not you? Sign out
          </Button>
        </p>
        <ErrorNotice error={signOut.error()} title="Sign-out failed" />
      </section>
    </main>
  );
}

function ConsentForm(props: {
  uid: string;
  me: Me;
  details: ConsentDetails;
  onAnswered: (redirectTo: string, approved: boolean) => void;
}) {
  const client = () => props.details.client;
  const logo = () => safeLogoUrl(client().logoUri);
  const [logoFailed, setLogoFailed] = createSignal(false);
  const registration = () => registrationText(client());
  const [choices, setChoices] = createSignal<Record<string, McpChoice>>(initialChoices(props.details.mcps));
  const update = (mcpId: string, change: Partial<McpChoice>) =>
    setChoices((current) => {
      const previous = current[mcpId] ?? { chosen: false, pick: { all: true }, missing: [] };
      return { ...current, [mcpId]: { ...previous, ...change } };
    });
  const approvable = () => canApprove(props.details.mcps, choices());

  const answer = createAction(async (approve: boolean) => {
    const result = approve
      ? await consentApi.confirm(props.uid, subscriptionsOf(props.details.mcps, choices()))
      : await consentApi.deny(props.uid);
    if (!isFollowableRedirect(result.redirectTo, window.location.origin)) {
      throw {
        code: 'INTERNAL',
        message: 'Gatehouse answered with an unusable address.',
        fieldErrors: {},
      } satisfies AppError;
    }
    return result.redirectTo;
  });
  const respond = async (approve: boolean) => {
    const redirectTo = await answer.run(approve);
    if (redirectTo) props.onAnswered(redirectTo, approve);
    else if (answer.error()?.code === 'UNAUTHENTICATED') signedOut(SESSION_ENDED_MESSAGE);
  };

  return (
    <>
      <div class="consent-head">
        <Show when={logo() && !logoFailed()}>
          <img
            class="consent-logo"
            src={logo()}
            alt=""
            width="48"
            height="48"
            referrerPolicy="no-referrer"
            onError={() => setLogoFailed(true)}
          />
        </Show>
        <div class="consent-heading">
          <h1 id="consent-title" class="auth-title">
            Allow {client().name} to use your MCPs?
          </h1>
          <p class="muted">
            {client().name} asks to call tools through Gatehouse as you. It gets only the MCPs and tools you
            choose below, and you can revoke it at any time in My clients.
          </p>
        </div>
      </div>

      <dl class="facts consent-facts">
        <dt>Identity</dt>
        <dd>
          <Badge tone={client().registration === 'cimd' ? 'success' : 'warning'}>
            {registration().label}
          </Badge>
          <span class="cell-secondary">{registration().detail}</span>
        </dd>
        <dt>Client ID</dt>
        <dd>
          <code class="break-all">{client().clientId}</code>
        </dd>
        <dt>Returns to</dt>
        <dd>
          <code class="break-all">{redirectHost(client().redirectUri)}</code>
        </dd>
        <dt>Gatehouse endpoint</dt>
        <dd>
          <code class="break-all">{props.details.resource}</code>
        </dd>
      </dl>

      <Show when={client().localhostOnly}>
        <Notice tone="warning" title="This app only returns to this computer">
          <p>
            {client().name} sends you back to {redirectHost(client().redirectUri)}, an address on this
            machine. Anyone on this machine could claim this name: allow it only if you started{' '}
            {client().name} yourself, just now.
          </p>
        </Notice>
      </Show>
      <Show when={props.details.existingClient}>
        {(existing) => (
          <Notice tone="info" title="You allowed this app before">
            <p>
              It is your client <strong>{existing().name}</strong>. Allowing it again replaces its MCPs and
              tools with what you choose here.
            </p>
          </Notice>
        )}
      </Show>

      <section class="stack consent-mcps" aria-labelledby="consent-mcps-title">
        <h2 id="consent-mcps-title" class="section-title">
          MCPs it may use
        </h2>
        <Show
          when={props.details.mcps.length > 0}
          fallback={
            <Notice tone="info">
              No MCPs are available to you yet, so there is nothing to allow. Ask an administrator for access,
              then connect again.
            </Notice>
          }
        >
          <ul class="consent-mcp-list">
            <For each={props.details.mcps}>
              {(mcp) => (
                <McpChoiceItem
                  mcp={mcp}
                  choice={choices()[mcp.id]}
                  onChange={(change) => update(mcp.id, change)}
                />
              )}
            </For>
          </ul>
        </Show>
      </section>

      <ErrorNotice error={answer.error()} title="Your answer could not be sent" />
      <div class="consent-actions">
        <Button onClick={() => void respond(false)} disabled={answer.pending()}>
          Deny
        </Button>
        <Button
          variant="primary"
          onClick={() => void respond(true)}
          disabled={!approvable()}
          busy={answer.pending()}
          aria-describedby={approvable() ? undefined : 'consent-approve-hint'}
        >
          Approve
        </Button>
      </div>
      <Show when={!approvable()}>
        <p id="consent-approve-hint" class="field-hint consent-hint">
          Choose at least one MCP, with at least one of its tools, to approve.
        </p>
      </Show>
    </>
  );
}

function McpChoiceItem(props: {
  mcp: ConsentMcp;
  choice: McpChoice | undefined;
  onChange: (change: Partial<McpChoice>) => void;
}) {
  const inputId = `consent-mcp-${props.mcp.id}`;
  const error = () => choiceError(props.mcp, props.choice);
  return (
    <li class="consent-mcp">
      <fieldset aria-label={props.mcp.name} class="ss-fieldset">
        <div class="consent-mcp-head">
          <input
            id={inputId}
            type="checkbox"
            checked={props.choice?.chosen ?? false}
            onChange={(event) => props.onChange({ chosen: event.currentTarget.checked })}
          />
          <label for={inputId}>
            <span class="consent-mcp-name">Use {props.mcp.name}</span>{' '}
            <span class="cell-secondary">
              <code>{props.mcp.slug}</code> · {props.mcp.tools.length}{' '}
              {props.mcp.tools.length === 1 ? 'tool' : 'tools'}
            </span>
          </label>
        </div>
        <Show when={props.choice?.chosen && props.choice}>
          {(choice) => (
            <div class="consent-mcp-tools">
              <Show when={choice().missing.length > 0}>
                <Notice tone="warning" title="Some tools are gone">
                  <p>
                    {props.mcp.name} no longer offers {choice().missing.join(', ')}; they are left out.
                  </p>
                </Notice>
              </Show>
              <ToolPicker
                entry={props.mcp}
                pick={choice().pick}
                onChange={(pick) => props.onChange({ pick })}
                legend={`Tools of ${props.mcp.name}`}
                error={error() ? [error() as string] : undefined}
              />
            </div>
          )}
        </Show>
      </fieldset>
    </li>
  );
}
