import type { Group, McpIsolation, McpTransport } from '@gatehouse/schema';
import { createUniqueId, For, type JSX, Show } from 'solid-js';
import { createStore, unwrap } from 'solid-js/store';
import type { AppError } from '../../lib/errors.js';
import {
  Button,
  ErrorNotice,
  Form,
  Loading,
  Notice,
  Select,
  type SelectOption,
  TextField,
} from '../../ui/index.js';
import { Checkbox } from './Checkbox.js';
import {
  argumentLine,
  credentialKey,
  emptyCredentialField,
  errorsAt,
  fieldKeys,
  type InjectInto,
  type McpFormValues,
  oauthKey,
  unclaimedErrors,
} from './mcp-form.js';
import { transportLabels } from './mcp-status.js';

const transportOptions: readonly SelectOption<McpTransport>[] = (
  ['stdio', 'streamable-http', 'sse'] as const
).map((value) => ({ value, label: transportLabels[value] }));

const isolationOptions: readonly SelectOption<McpIsolation>[] = [
  { value: 'shared', label: 'Shared: one instance serves everyone' },
  { value: 'per-user', label: 'Per user: each user gets their own instance' },
];

const startModeOptions: readonly SelectOption<'lazy' | 'eager'>[] = [
  { value: 'lazy', label: 'On first use' },
  { value: 'eager', label: 'At once, when it goes live' },
];

const injectOptions: readonly SelectOption<InjectInto>[] = [
  { value: 'none', label: 'Not injected (referenced in a value)' },
  { value: 'env', label: 'Environment variable' },
  { value: 'header', label: 'HTTP header' },
];

/** Every key a control of this form shows errors for; anything else is listed under the form. */
const claimedKeys = [...Object.values(fieldKeys)];

export interface McpFormGroups {
  items: readonly Group[] | undefined;
  loading: boolean;
  error: AppError | undefined;
}

/**
 * The MCP configuration form, for creating an MCP and for editing one (which makes a new config version). The
 * slug cannot change once created, and group grants are edited on the detail screen, so edit mode leaves
 * both out of the submitted values.
 */
export function McpForm(props: {
  mode: 'create' | 'edit';
  initial: McpFormValues;
  /** Create mode: the groups to grant access to. */
  groups?: McpFormGroups;
  submitLabel: string;
  pending: boolean;
  error: AppError | undefined;
  onSubmit: (values: McpFormValues) => void;
  onCancel: () => void;
  /** Shown above the buttons (what saving will do). */
  note?: JSX.Element;
}) {
  const [values, setValues] = createStore<McpFormValues>(structuredClone(props.initial));
  const errors = () => props.error?.fieldErrors;
  const at = (key: string, where?: (rest: string) => string) => errorsAt(errors(), key, where);
  const exact = (key: string) => {
    const messages = errors()?.[key];
    return messages && messages.length > 0 ? messages : undefined;
  };
  const stdio = () => values.transport === 'stdio';
  const groupsErrorId = createUniqueId();
  const credentialsHintId = createUniqueId();
  const others = () => unclaimedErrors(errors(), claimedKeys);

  const toggleGroup = (id: string, checked: boolean) =>
    setValues('groupIds', (ids) =>
      checked ? [...ids.filter((other) => other !== id), id] : ids.filter((other) => other !== id),
    );

  return (
    <Form
      class="stack cat-mcp-form"
      aria-label={props.mode === 'create' ? 'New MCP' : 'Edit MCP'}
      onSubmit={() => props.onSubmit(structuredClone(unwrap(values)))}
      pending={props.pending}
      error={props.error}
    >
      <fieldset class="cat-fieldset">
        <legend>About</legend>
        <div class="form-grid">
          <TextField
            label="Slug"
            value={values.slug}
            onInput={(value) => setValues('slug', value)}
            autocomplete="off"
            spellcheck={false}
            required
            maxLength={24}
            disabled={props.mode === 'edit'}
            hint={
              props.mode === 'edit'
                ? 'The slug cannot be changed: it prefixes the tool names clients know.'
                : 'Prefixes every tool name (slug__tool). 1 to 24 lowercase letters, digits or dashes; cannot be changed later.'
            }
            error={exact(fieldKeys.slug)}
          />
          <TextField
            label="Name"
            value={values.name}
            onInput={(value) => setValues('name', value)}
            autocomplete="off"
            maxLength={128}
            // Not marked `required`: the marker would become part of the label text ("Name *"), and the label
            // must read exactly "Name". The hint says it instead.
            hint="Required. The title users see in the marketplace."
            error={exact(fieldKeys.name)}
          />
          <TextField
            class="span-2"
            label="Description"
            value={values.description}
            onInput={(value) => setValues('description', value)}
            rows={3}
            maxLength={1000}
            hint="Shown to users in the marketplace."
            error={exact(fieldKeys.description)}
          />
          <TextField
            class="span-2"
            label="Icon"
            value={values.iconUrl}
            onInput={(value) => setValues('iconUrl', value)}
            autocomplete="off"
            spellcheck={false}
            maxLength={2048}
            hint="Optional: the http(s) address of an image shown in the marketplace."
            error={exact(fieldKeys.iconUrl)}
          />
        </div>
      </fieldset>

      <fieldset class="cat-fieldset">
        <legend>Connection</legend>
        <div class="form-grid">
          <Select
            class="span-2"
            label="Transport"
            value={values.transport}
            options={transportOptions}
            onChange={(value) => setValues('transport', value)}
            hint="stdio runs a local command; http is Streamable HTTP; sse is the older HTTP with server-sent events."
            error={exact(fieldKeys.transport)}
          />
          <Show
            when={stdio()}
            fallback={
              <>
                <TextField
                  class="span-2 cat-code-field"
                  label="URL"
                  value={values.url}
                  onInput={(value) => setValues('url', value)}
                  autocomplete="off"
                  spellcheck={false}
                  required
                  maxLength={2048}
                  placeholder="https://mcp.example.com/mcp"
                  hint="Never put credentials in the URL: inject them as headers."
                  error={exact(fieldKeys.url)}
                />
                <TextField
                  class="span-2 cat-code-field"
                  label="Headers"
                  value={values.headers}
                  onInput={(value) => setValues('headers', value)}
                  rows={4}
                  spellcheck={false}
                  placeholder="X-Region: eu"
                  hint="One “Name: value” per line. Use {{credential:KEY}} for secrets."
                  error={at(fieldKeys.headers)}
                />
              </>
            }
          >
            <TextField
              class="span-2 cat-code-field"
              label="Command"
              value={values.command}
              onInput={(value) => setValues('command', value)}
              autocomplete="off"
              spellcheck={false}
              required
              maxLength={1024}
              placeholder="npx"
              hint="A command found on the server's PATH, or an absolute path."
              error={exact(fieldKeys.command)}
            />
            <TextField
              class="span-2 cat-code-field"
              label="Arguments"
              value={values.args}
              onInput={(value) => setValues('args', value)}
              rows={4}
              spellcheck={false}
              hint="One argument per line. Credentials never go here: any local user can read a command line."
              error={at(fieldKeys.args, argumentLine)}
            />
            <TextField
              class="span-2 cat-code-field"
              label="Environment"
              value={values.env}
              onInput={(value) => setValues('env', value)}
              rows={4}
              spellcheck={false}
              placeholder="LOG_LEVEL=info"
              hint="One NAME=value per line. Use {{credential:KEY}} for secrets, never a literal value."
              error={at(fieldKeys.env)}
            />
            <TextField
              class="span-2 cat-code-field"
              label="Working directory"
              value={values.cwd}
              onInput={(value) => setValues('cwd', value)}
              autocomplete="off"
              spellcheck={false}
              maxLength={1024}
              hint="Optional: an absolute path."
              error={exact(fieldKeys.cwd)}
            />
          </Show>
        </div>
      </fieldset>

      <fieldset class="cat-fieldset" aria-describedby={credentialsHintId}>
        <legend>Credential fields</legend>
        <p class="field-hint" id={credentialsHintId}>
          Values that users (or, for a shared MCP, admins) supply. Each is injected as an environment variable
          or header, or referenced in a value as {'{{credential:KEY}}'}.
        </p>
        <Show when={exact(fieldKeys.credentials)}>
          {(messages) => (
            <div class="field-error">
              <For each={messages()}>{(message) => <p>Credential fields: {message}</p>}</For>
            </div>
          )}
        </Show>
        <For each={values.credentials}>
          {(field, index) => (
            <fieldset class="cat-fieldset cat-fieldset-nested">
              <legend>Credential field {index() + 1}</legend>
              <Show when={exact(credentialKey(index()))}>
                {(messages) => (
                  <div class="field-error">
                    <For each={messages()}>{(message) => <p>{message}</p>}</For>
                  </div>
                )}
              </Show>
              <div class="form-grid">
                <TextField
                  class="cat-code-field"
                  label="Key"
                  value={field.name}
                  onInput={(value) => setValues('credentials', index(), 'name', value)}
                  autocomplete="off"
                  spellcheck={false}
                  required
                  maxLength={64}
                  hint="Letters, digits and underscores, as in {{credential:KEY}}."
                  error={exact(credentialKey(index(), 'name'))}
                />
                <TextField
                  label="Label"
                  value={field.label}
                  onInput={(value) => setValues('credentials', index(), 'label', value)}
                  autocomplete="off"
                  required
                  maxLength={128}
                  hint="What users see, for example “GitHub token”."
                  error={exact(credentialKey(index(), 'label'))}
                />
                <TextField
                  class="span-2"
                  label="Help text"
                  value={field.help}
                  onInput={(value) => setValues('credentials', index(), 'help', value)}
                  rows={2}
                  maxLength={1000}
                  error={exact(credentialKey(index(), 'help'))}
                />
                <Checkbox
                  label="Secret"
                  hint="Write-only: never shown again once saved."
                  checked={field.secret}
                  onChange={(checked) => setValues('credentials', index(), 'secret', checked)}
                />
                <Checkbox
                  label="Required"
                  hint="The MCP does not start without it."
                  checked={field.required}
                  onChange={(checked) => setValues('credentials', index(), 'required', checked)}
                />
                <Select
                  label="Inject as"
                  value={field.inject}
                  options={injectOptions}
                  onChange={(value) => setValues('credentials', index(), 'inject', value)}
                  error={exact(credentialKey(index(), 'inject'))}
                />
                <Show when={field.inject !== 'none'}>
                  <TextField
                    class="cat-code-field"
                    label="Variable or header"
                    value={field.injectName}
                    onInput={(value) => setValues('credentials', index(), 'injectName', value)}
                    autocomplete="off"
                    spellcheck={false}
                    required
                    maxLength={128}
                    placeholder={field.inject === 'env' ? 'GITHUB_TOKEN' : 'X-Api-Key'}
                    error={at(credentialKey(index(), 'inject.name'))}
                  />
                </Show>
              </div>
              <div>
                <Button
                  size="sm"
                  variant="ghost"
                  class="btn-danger-text"
                  aria-label={`Remove credential field ${index() + 1}`}
                  onClick={() =>
                    setValues('credentials', (list) => list.filter((_, other) => other !== index()))
                  }
                >
                  Remove field
                </Button>
              </div>
            </fieldset>
          )}
        </For>
        <div>
          <Button
            size="sm"
            onClick={() => setValues('credentials', (list) => [...list, emptyCredentialField()])}
            disabled={values.credentials.length >= 32}
          >
            Add credential field
          </Button>
        </div>
      </fieldset>

      <fieldset class="cat-fieldset">
        <legend>Runtime</legend>
        <div class="form-grid">
          <Select
            label="Isolation"
            value={values.isolation}
            options={isolationOptions}
            onChange={(value) => setValues('isolation', value)}
            error={exact(fieldKeys.isolation)}
          />
          <Show
            when={values.isolation === 'shared'}
            fallback={
              <TextField
                label="Instance limit"
                value={values.maxInstances}
                onInput={(value) => setValues('maxInstances', value)}
                autocomplete="off"
                placeholder="50"
                hint="How many users may have an instance running at once. Blank for 50."
                error={exact(fieldKeys.maxInstances)}
              />
            }
          >
            <Select
              label="Start mode"
              value={values.startMode}
              options={startModeOptions}
              onChange={(value) => setValues('startMode', value)}
              error={exact(fieldKeys.startMode)}
            />
          </Show>
          <TextField
            label="Connect timeout (seconds)"
            value={values.connectTimeoutSeconds}
            onInput={(value) => setValues('connectTimeoutSeconds', value)}
            autocomplete="off"
            placeholder="30"
            hint="1 to 120. Blank for 30."
            error={exact(fieldKeys.connectTimeout)}
          />
          <TextField
            label="Call timeout (seconds)"
            value={values.callTimeoutSeconds}
            onInput={(value) => setValues('callTimeoutSeconds', value)}
            autocomplete="off"
            placeholder="60"
            hint="1 to 3600. Blank for 60."
            error={exact(fieldKeys.callTimeout)}
          />
          <TextField
            label="Concurrent calls limit"
            value={values.maxConcurrentCalls}
            onInput={(value) => setValues('maxConcurrentCalls', value)}
            autocomplete="off"
            placeholder="16"
            hint="Calls one instance handles at once; more wait. Blank for 16."
            error={exact(fieldKeys.maxConcurrentCalls)}
          />
        </div>
      </fieldset>

      <fieldset class="cat-fieldset">
        <legend>OAuth</legend>
        <Checkbox
          label="Users connect their own account with OAuth"
          hint="Authorization code with PKCE; each user's access token goes to their own instance. Needs per-user isolation."
          checked={values.oauth.enabled}
          onChange={(checked) => setValues('oauth', 'enabled', checked)}
        />
        <Show when={exact(fieldKeys.oauth)}>
          {(messages) => (
            <div class="field-error">
              <For each={messages()}>{(message) => <p>OAuth: {message}</p>}</For>
            </div>
          )}
        </Show>
        <Show when={values.oauth.enabled}>
          <Show when={values.isolation !== 'per-user'}>
            <Notice tone="warning">
              OAuth connects each user's own account, so choose per-user isolation.
            </Notice>
          </Show>
          <div class="form-grid">
            <TextField
              class="span-2"
              label="Client ID"
              value={values.oauth.clientId}
              onInput={(value) => setValues('oauth', 'clientId', value)}
              autocomplete="off"
              spellcheck={false}
              required
              maxLength={256}
              hint="The client secret, if any, is set on the MCP's page after creating it; it is never part of the configuration."
              error={exact(oauthKey('clientId'))}
            />
            <TextField
              class="span-2 cat-code-field"
              label="Issuer"
              value={values.oauth.issuer}
              onInput={(value) => setValues('oauth', 'issuer', value)}
              autocomplete="off"
              spellcheck={false}
              maxLength={2048}
              hint="Endpoints are discovered from the issuer's metadata when not given below."
              error={exact(oauthKey('issuer'))}
            />
            <TextField
              class="cat-code-field"
              label="Authorization endpoint"
              value={values.oauth.authorizationEndpoint}
              onInput={(value) => setValues('oauth', 'authorizationEndpoint', value)}
              autocomplete="off"
              spellcheck={false}
              maxLength={2048}
              error={exact(oauthKey('authorizationEndpoint'))}
            />
            <TextField
              class="cat-code-field"
              label="Token endpoint"
              value={values.oauth.tokenEndpoint}
              onInput={(value) => setValues('oauth', 'tokenEndpoint', value)}
              autocomplete="off"
              spellcheck={false}
              maxLength={2048}
              error={exact(oauthKey('tokenEndpoint'))}
            />
            <TextField
              class="cat-code-field"
              label="Revocation endpoint"
              value={values.oauth.revocationEndpoint}
              onInput={(value) => setValues('oauth', 'revocationEndpoint', value)}
              autocomplete="off"
              spellcheck={false}
              maxLength={2048}
              hint="Optional: tokens are revoked here when a user disconnects."
              error={exact(oauthKey('revocationEndpoint'))}
            />
            <TextField
              class="cat-code-field"
              label="Resource indicator"
              value={values.oauth.resource}
              onInput={(value) => setValues('oauth', 'resource', value)}
              autocomplete="off"
              spellcheck={false}
              maxLength={2048}
              hint="Optional (RFC 8707)."
              error={exact(oauthKey('resource'))}
            />
            <TextField
              class="cat-code-field"
              label="Scopes"
              value={values.oauth.scopes}
              onInput={(value) => setValues('oauth', 'scopes', value)}
              autocomplete="off"
              spellcheck={false}
              hint="Separated by spaces."
              error={at(oauthKey('scopes'), (rest) => `scope ${Number(rest) + 1}`)}
            />
            <TextField
              class="cat-code-field"
              label={stdio() ? 'Token variable' : 'Token header'}
              value={values.oauth.injectName}
              onInput={(value) => setValues('oauth', 'injectName', value)}
              autocomplete="off"
              spellcheck={false}
              required={stdio()}
              maxLength={128}
              placeholder={stdio() ? 'ACCESS_TOKEN' : 'Authorization'}
              hint={
                stdio()
                  ? 'The environment variable that receives the access token.'
                  : 'Blank for Authorization (sent as “Bearer …”).'
              }
              error={at(oauthKey('inject'))}
            />
          </div>
        </Show>
      </fieldset>

      <Show when={props.mode === 'create' && props.groups}>
        {(groups) => (
          <fieldset
            class="cat-fieldset"
            aria-describedby={at(fieldKeys.groupIds) ? groupsErrorId : undefined}
          >
            <legend>Groups</legend>
            <p class="field-hint">
              Members of the chosen groups find the MCP in the marketplace once it is live. You can change
              this later.
            </p>
            <ErrorNotice error={groups().error} title="Groups could not be loaded" />
            <Show when={!groups().items && groups().loading}>
              <Loading label="Loading groups…" />
            </Show>
            <Show when={groups().items?.length === 0}>
              <p class="muted">There are no groups yet.</p>
            </Show>
            <div class="cat-check-grid">
              <For each={groups().items}>
                {(group) => (
                  <Checkbox
                    label={group.name}
                    checked={values.groupIds.includes(group.id)}
                    onChange={(checked) => toggleGroup(group.id, checked)}
                    invalid={Boolean(at(fieldKeys.groupIds))}
                  />
                )}
              </For>
            </div>
            <Show when={at(fieldKeys.groupIds)}>
              {(messages) => (
                <div id={groupsErrorId} class="field-error">
                  <For each={messages()}>{(message) => <p>Groups: {message}</p>}</For>
                </div>
              )}
            </Show>
          </fieldset>
        )}
      </Show>

      <ErrorNotice error={props.error} />
      <Show when={others().length > 0}>
        <div class="field-error">
          <For each={others()}>{(message) => <p>{message}</p>}</For>
        </div>
      </Show>
      {props.note}
      <div class="cat-form-actions">
        <Button onClick={() => props.onCancel()} disabled={props.pending}>
          Cancel
        </Button>
        <Button type="submit" variant="primary" busy={props.pending}>
          {props.submitLabel}
        </Button>
      </div>
    </Form>
  );
}
