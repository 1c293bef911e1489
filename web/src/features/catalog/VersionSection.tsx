import type { McpConfig, McpDetail, McpVersion } from '@gatehouse/schema';
import { For, Show } from 'solid-js';
import { formatDateTime, plural } from '../../lib/format.js';
import { Badge, type Column, Notice, Table } from '../../ui/index.js';
import { describeConfigPath } from './mcp-form.js';
import { transportLabels, validationLabels, validationTone } from './mcp-status.js';

type DiscoveredTool = NonNullable<McpVersion['discovery']>['tools'][number];

const toolColumns: Column<DiscoveredTool>[] = [
  { header: 'Tool', cell: (tool) => <code class="cell-primary">{tool.name}</code> },
  {
    header: 'Description',
    class: 'col-wrap',
    cell: (tool) => tool.description || tool.title || <span class="muted">No description</span>,
  },
];

/** The configuration of a version as facts; secrets never appear in a config, only their references. */
function ConfigFacts(props: { config: McpConfig }) {
  const stdio = () => {
    const connection = props.config.connection;
    return connection.transport === 'stdio' ? connection : undefined;
  };
  const http = () => {
    const connection = props.config.connection;
    return connection.transport === 'stdio' ? undefined : connection;
  };
  const entries = (values: Record<string, string>) => Object.entries(values);
  return (
    <dl class="cat-facts">
      <dt>Transport</dt>
      <dd>{transportLabels[props.config.connection.transport]}</dd>
      <Show when={stdio()}>
        {(value) => (
          <>
            <dt>Command</dt>
            <dd>
              <code>{[value().command, ...value().args].join(' ')}</code>
            </dd>
            <Show when={entries(value().env).length > 0}>
              <dt>Environment</dt>
              <dd>
                <For each={entries(value().env)}>
                  {([name, envValue]) => (
                    <code class="cat-fact-line">
                      {name}={envValue}
                    </code>
                  )}
                </For>
              </dd>
            </Show>
            <Show when={value().cwd}>
              <dt>Working directory</dt>
              <dd class="mono">{value().cwd}</dd>
            </Show>
          </>
        )}
      </Show>
      <Show when={http()}>
        {(value) => (
          <>
            <dt>URL</dt>
            <dd class="mono">{value().url}</dd>
            <Show when={entries(value().headers).length > 0}>
              <dt>Headers</dt>
              <dd>
                <For each={entries(value().headers)}>
                  {([name, headerValue]) => (
                    <code class="cat-fact-line">
                      {name}: {headerValue}
                    </code>
                  )}
                </For>
              </dd>
            </Show>
          </>
        )}
      </Show>
      <dt>Isolation</dt>
      <dd>
        {props.config.isolation === 'shared'
          ? `shared, starts ${props.config.startMode === 'eager' ? 'at once' : 'on first use'}`
          : `per user, at most ${props.config.limits.maxInstances} at once`}
      </dd>
      <dt>Credential fields</dt>
      <dd>
        <Show when={props.config.credentials.length > 0} fallback="None">
          <For each={props.config.credentials}>
            {(field) => (
              <span class="cat-fact-line">
                <code>{field.name}</code> ({field.label}
                {field.secret ? ', secret' : ''}
                {field.required ? '' : ', optional'}
                {field.inject
                  ? `, as ${field.inject.into === 'env' ? 'env' : 'header'} ${field.inject.name}`
                  : ''}
                )
              </span>
            )}
          </For>
        </Show>
      </dd>
      <dt>OAuth</dt>
      <dd>{props.config.oauth ? `client ${props.config.oauth.clientId}` : 'Not used'}</dd>
      <dt>Limits</dt>
      <dd>
        connect {props.config.timeouts.connectMs / 1000} s · call {props.config.timeouts.callMs / 1000} s ·{' '}
        {props.config.limits.maxConcurrentCalls} concurrent calls
      </dd>
    </dl>
  );
}

/** The version that validate, discover and publish act on: its configuration, problems and discovered tools. */
export function VersionSection(props: { detail: McpDetail; version: McpVersion }) {
  const role = () => (props.detail.candidate?.id === props.version.id ? 'candidate' : 'live');
  const discovery = () => props.version.discovery;
  return (
    <section class="stack" aria-labelledby="mcp-version-title">
      <div class="cat-section-header">
        <h2 id="mcp-version-title" class="section-title">
          Version {props.version.version}
        </h2>
        <Badge tone={role() === 'live' ? 'success' : 'accent'}>{role()}</Badge>
        <Badge tone={validationTone[props.version.validationStatus]}>
          {validationLabels[props.version.validationStatus]}
        </Badge>
        <span class="muted">Created {formatDateTime(props.version.createdAt)}</span>
      </div>
      <Show when={role() === 'candidate' && props.detail.live}>
        {(live) => (
          <p class="muted">Live version {live().version} keeps serving until you publish this one.</p>
        )}
      </Show>

      <ConfigFacts config={props.version.config} />

      <Show when={props.version.validationStatus === 'invalid'}>
        <Notice
          tone="error"
          title={`Validation found ${plural(props.version.validationErrors.length, 'problem')}`}
        >
          <ul class="cat-problem-list">
            <For each={props.version.validationErrors}>
              {(problem) => (
                <li>
                  <strong>{describeConfigPath(problem.path)}</strong>: {problem.message}
                </li>
              )}
            </For>
          </ul>
        </Notice>
      </Show>
      <Show when={props.version.validationStatus === 'valid'}>
        <p class="muted">
          Validation passed: the command or URL, credential references and injections check out.
        </p>
      </Show>

      <h3 class="cat-section-subtitle">Discovery</h3>
      <Show
        when={discovery()}
        fallback={
          <p class="muted">
            Not discovered yet. Discovery starts the MCP once, lists its tools and records their definitions;
            publishing approves exactly those.
          </p>
        }
      >
        {(found) => (
          <>
            <p>
              {found().serverInfo.name} {found().serverInfo.version} (protocol {found().protocolVersion})
              offered {plural(found().tools.length, 'tool')}, {plural(found().prompts.length, 'prompt')} and{' '}
              {plural(found().resources.length + found().resourceTemplates.length, 'resource')} on{' '}
              {formatDateTime(found().discoveredAt)}.
            </p>
            {/* Once live, the tools are listed (with their pin state) under Tools. */}
            <Show when={role() === 'candidate'}>
              <Table
                caption={`Tools discovered in version ${props.version.version}`}
                columns={toolColumns}
                rows={found().tools}
                empty="The server offers no tools."
              />
            </Show>
            <Show when={found().prompts.length > 0}>
              <p>
                Prompts:{' '}
                <For each={found().prompts}>
                  {(prompt, index) => (
                    <>
                      {index() > 0 ? ', ' : ''}
                      <code>{prompt.name}</code>
                    </>
                  )}
                </For>
              </p>
            </Show>
          </>
        )}
      </Show>
    </section>
  );
}
