import type { ClientKind } from '@gatehouse/schema';
import { createUniqueId, For, Show } from 'solid-js';
import { Loading, Notice } from '../../ui/index.js';
import { CopyButton } from './CopyButton.js';
import { createEndpoint } from './endpoint.js';
import {
  connectionSnippets,
  DEFAULT_CLIENT_PORT,
  KEY_PLACEHOLDER,
  oauthSnippets,
  type Snippet,
} from './snippets.js';

/**
 * Configuration to paste into each common AI client, for the endpoint the server reports. With `oauth`, the
 * plain URL for apps that sign in through OAuth (no key). Otherwise key-based: with `clientKey` (right after
 * creation or rotation) the snippets carry the key; without, a placeholder.
 */
export function ConnectionSnippets(props: { kind?: ClientKind; clientKey?: string; oauth?: boolean }) {
  const endpoint = createEndpoint();
  const snippets = (): Pick<Snippet, 'title' | 'where' | 'text'>[] => {
    const url = endpoint.url();
    if (!url) return [];
    return props.oauth
      ? oauthSnippets({ endpointUrl: url, kind: props.kind })
      : connectionSnippets({ endpointUrl: url, clientKey: props.clientKey, kind: props.kind });
  };
  return (
    <div class="stack">
      <Show when={endpoint.url()} fallback={<Loading label="Loading the endpoint address…" />}>
        {(url) => (
          <p class="field-hint">
            Endpoint: <code>{url()}</code>
            <Show when={!props.clientKey && !props.oauth}>
              {' '}
              · Replace <code>{KEY_PLACEHOLDER}</code> with the key shown when the client was created or its
              key was rotated.
            </Show>
          </p>
        )}
      </Show>
      <Show when={endpoint.guessed()}>
        <Notice tone="warning" title="The endpoint address could not be loaded">
          <p>
            These snippets assume the MCP endpoint is on this host at the default client port,{' '}
            {DEFAULT_CLIENT_PORT}. Ask your administrator if that is not right.
          </p>
        </Notice>
      </Show>
      <For each={snippets()}>{(snippet) => <SnippetBlock snippet={snippet} />}</For>
    </div>
  );
}

function SnippetBlock(props: { snippet: Pick<Snippet, 'title' | 'where' | 'text'> }) {
  let pre: HTMLPreElement | undefined;
  const titleId = createUniqueId();
  return (
    <section class="ss-snippet" aria-labelledby={titleId}>
      <div class="ss-snippet-head">
        <h3 id={titleId} class="ss-snippet-title">
          {props.snippet.title}
        </h3>
        <CopyButton
          text={props.snippet.text}
          target={() => pre}
          label={`Copy the ${props.snippet.title} snippet`}
        />
      </div>
      <p class="field-hint">{props.snippet.where}</p>
      <pre ref={pre} class="ss-code">
        <code>{props.snippet.text}</code>
      </pre>
    </section>
  );
}
