import type { FieldErrors, MarketplaceEntry, Subscription } from '@gatehouse/schema';
import { createMemo, createSignal, createUniqueId, For, Show } from 'solid-js';
import { createAction } from '../../lib/async.js';
import { type AppError, fieldError } from '../../lib/errors.js';
import { trpc } from '../../lib/trpc.js';
import { Button, Dialog, DialogForm, Notice, phraseFieldError, Select } from '../../ui/index.js';
import {
  allTools,
  describePick,
  isPicked,
  noTools,
  pickError,
  pickFromSubscription,
  pickToTools,
  type ToolPick,
  togglePick,
} from './tool-selection.js';

const invalid = (fieldErrors: FieldErrors): AppError => ({
  code: 'VALIDATION_FAILED',
  message: 'Some fields are invalid',
  fieldErrors,
});

/**
 * Subscribes a client to an MCP from the marketplace (`subscription` absent), or edits the tools of an
 * existing subscription. "Select all" subscribes to every tool, including ones the MCP adds later.
 */
export function SubscriptionDialog(props: {
  clientId: string;
  clientName: string;
  /** The MCPs the user may subscribe to (the marketplace). */
  marketplace: readonly MarketplaceEntry[];
  /** MCPs the client already has: not offered again. */
  subscribedMcpIds: readonly string[];
  subscription?: Subscription;
  onClose: () => void;
  onSaved: (subscription: Subscription, entry: MarketplaceEntry | undefined) => void;
}) {
  const editing = () => props.subscription;
  const [mcpId, setMcpId] = createSignal(props.subscription?.mcpId ?? '');
  const entry = createMemo(() => props.marketplace.find((candidate) => candidate.id === mcpId()));
  const toolNames = createMemo(() => entry()?.tools.map((tool) => tool.name) ?? []);
  const initial = props.subscription
    ? pickFromSubscription(props.subscription.tools, toolNames())
    : { pick: allTools(), missing: [] };
  const [pick, setPick] = createSignal<ToolPick>(initial.pick);

  const choices = () =>
    props.marketplace.filter((candidate) => !props.subscribedMcpIds.includes(candidate.id));

  const save = createAction(async () => {
    const problem = pickError(pick(), toolNames());
    const existing = editing();
    if (existing) {
      if (problem) throw invalid({ tools: [problem] });
      return trpc.subscriptions.update.mutate({ id: existing.id, tools: pickToTools(pick(), toolNames()) });
    }
    if (!mcpId()) throw invalid({ mcpId: ['Choose an MCP'] });
    if (problem) throw invalid({ tools: [problem] });
    return trpc.subscriptions.create.mutate({
      clientId: props.clientId,
      mcpId: mcpId(),
      tools: pickToTools(pick(), toolNames()),
    });
  });

  const submit = async () => {
    const saved = await save.run(undefined);
    if (saved) props.onSaved(saved, entry());
  };

  return (
    <Dialog
      title={
        editing()
          ? `Tools of ${entry()?.name ?? editing()?.mcpSlug} for ${props.clientName}`
          : `Add an MCP to ${props.clientName}`
      }
      onClose={props.onClose}
      size="lg"
      preventClose={save.pending()}
    >
      <DialogForm
        onSubmit={() => void submit()}
        onCancel={props.onClose}
        submitLabel={editing() ? 'Save changes' : 'Subscribe'}
        pending={save.pending()}
        error={save.error()}
      >
        <Show when={!editing()}>
          <Show
            when={choices().length > 0}
            fallback={
              <Notice tone="info">
                {props.marketplace.length === 0
                  ? 'No MCPs are available to you yet.'
                  : `${props.clientName} is already subscribed to every MCP available to you.`}
              </Notice>
            }
          >
            <Select
              label="MCP"
              value={mcpId()}
              options={[
                { value: '', label: 'Choose an MCP…' },
                ...choices().map((choice) => ({ value: choice.id, label: choice.name })),
              ]}
              onChange={(value) => {
                setMcpId(value);
                setPick(allTools());
                save.setError(undefined);
              }}
              required
              error={fieldError(save.error(), 'mcpId')}
            />
          </Show>
        </Show>
        <Show when={entry()}>
          {(chosen) => (
            <>
              <Show when={chosen().description}>
                <p class="field-hint">{chosen().description}</p>
              </Show>
              <Show when={initial.missing.length > 0}>
                <Notice tone="warning" title="Some selected tools are gone">
                  <p>
                    {chosen().name} no longer offers {initial.missing.join(', ')}. Saving removes them from
                    the selection.
                  </p>
                </Notice>
              </Show>
              <ToolPicker
                entry={chosen()}
                pick={pick()}
                onChange={setPick}
                error={fieldError(save.error(), 'tools')}
              />
            </>
          )}
        </Show>
        <Show when={editing() && !entry()}>
          <Notice tone="warning">
            This MCP is no longer available to you, so its tools cannot be changed. You can remove the
            subscription.
          </Notice>
        </Show>
      </DialogForm>
    </Dialog>
  );
}

/** What the picker needs of an MCP: its name and tools (a marketplace entry, or an MCP on the consent screen). */
export interface PickableMcp {
  name: string;
  tools: readonly { name: string; title?: string | undefined; description?: string | undefined }[];
}

/**
 * One checkbox per tool, labelled by the tool's name, with "Select all" and "Select none". Also used by the
 * OAuth consent screen.
 */
export function ToolPicker(props: {
  entry: PickableMcp;
  pick: ToolPick;
  onChange: (pick: ToolPick) => void;
  error?: readonly string[] | undefined;
  /** The fieldset's legend; "Tools" unless given. */
  legend?: string;
}) {
  const id = createUniqueId();
  const names = () => props.entry.tools.map((tool) => tool.name);
  const describedBy = () => (props.error ? `${id}-status ${id}-error` : `${id}-status`);
  return (
    <fieldset class="ss-fieldset" aria-describedby={describedBy()}>
      <legend class="field-label">{props.legend ?? 'Tools'}</legend>
      <Show
        when={props.entry.tools.length > 0}
        fallback={
          <p class="field-hint">
            {props.entry.name} offers no tools yet. The subscription covers every tool it offers later.
          </p>
        }
      >
        <div class="row ss-picker-bar">
          <Button size="sm" onClick={() => props.onChange(allTools())}>
            Select all
          </Button>
          <Button size="sm" onClick={() => props.onChange(noTools())}>
            Select none
          </Button>
          <span id={`${id}-status`} class="field-hint" role="status">
            {describePick(props.pick, names())}
          </span>
        </div>
        <ul class="ss-checks">
          <For each={props.entry.tools}>
            {(tool, index) => {
              const inputId = `${id}-tool-${index()}`;
              const about = tool.title || tool.description;
              return (
                <li>
                  <input
                    id={inputId}
                    type="checkbox"
                    checked={isPicked(props.pick, tool.name)}
                    onChange={() => props.onChange(togglePick(props.pick, tool.name, names()))}
                    aria-describedby={about ? `${inputId}-about` : undefined}
                  />
                  <span class="ss-check-text">
                    <label for={inputId} class="mono">
                      {tool.name}
                    </label>
                    <Show when={about}>
                      <span id={`${inputId}-about`} class="cell-secondary">
                        {tool.title && tool.description ? `${tool.title} — ${tool.description}` : about}
                      </span>
                    </Show>
                  </span>
                </li>
              );
            }}
          </For>
        </ul>
      </Show>
      <Show when={props.error}>
        {(messages) => (
          <div id={`${id}-error`} class="field-error">
            <For each={messages()}>{(message) => <p>{phraseFieldError('Tools', message)}</p>}</For>
          </div>
        )}
      </Show>
    </fieldset>
  );
}
