import type { Discovery, PinKind } from '@gatehouse/schema';
import { createUniqueId, For, Match, Show, Switch } from 'solid-js';
import { createAction, type Query } from '../../lib/async.js';
import { formatDateTime, plural } from '../../lib/format.js';
import { canManage } from '../../lib/session.js';
import { trpc } from '../../lib/trpc.js';
import { Badge, Button, ErrorNotice, Loading } from '../../ui/index.js';
import { diffStats, diffValues } from './line-diff.js';
import { pinExplanations, pinTone } from './mcp-status.js';

/** As the API returns them (`before` and `after` may be absent for a field that is absent). */
type Pin = Awaited<ReturnType<typeof trpc.catalog.pins.query>>['items'][number];
type FieldDiff = Pin['diff'][number];

const pendingStates = new Set(['changed', 'new']);
const order = { changed: 0, new: 1, rejected: 2, removed: 3, approved: 4 } as const;

/** Pending reviews first, then by kind and name. */
const sortPins = (pins: readonly Pin[]) =>
  [...pins].sort(
    (a, b) => order[a.state] - order[b.state] || a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name),
  );

/** One field's change as a line diff: removed lines, then added lines, with the unchanged ones around them. */
export function DefinitionDiff(props: { diff: FieldDiff }) {
  const lines = () => diffValues(props.diff.before, props.diff.after);
  const stats = () => diffStats(lines());
  const id = createUniqueId();
  return (
    <div class="cat-diff-field">
      <p id={id} class="cat-diff-field-name">
        <code>{props.diff.field}</code>{' '}
        <span class="muted">
          ({stats().removed} removed, {stats().added} added)
        </span>
      </p>
      <section
        class="cat-code-block cat-diff"
        aria-labelledby={id}
        // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard
        tabIndex={0}
      >
        <pre>
          <For each={lines()}>
            {(line) => (
              <Switch>
                <Match when={line.kind === 'added'}>
                  <ins class="cat-diff-line cat-diff-added">
                    <span class="cat-diff-sign">+</span>
                    <span class="sr-only">added: </span>
                    {line.text}
                  </ins>
                </Match>
                <Match when={line.kind === 'removed'}>
                  <del class="cat-diff-line cat-diff-removed">
                    <span class="cat-diff-sign">−</span>
                    <span class="sr-only">removed: </span>
                    {line.text}
                  </del>
                </Match>
                <Match when={line.kind === 'same'}>
                  <span class="cat-diff-line">
                    <span class="cat-diff-sign"> </span>
                    {line.text}
                  </span>
                </Match>
              </Switch>
            )}
          </For>
        </pre>
      </section>
    </div>
  );
}

function PinItem(props: {
  mcpId: string;
  pin: Pin;
  description: string | undefined;
  onDecided: (message: string) => void;
}) {
  const decide = createAction(async (decision: 'approve' | 'reject') => {
    const { pin } = props;
    if (!pin.observedHash) throw new Error('no observed definition');
    const input = { id: props.mcpId, kind: pin.kind, name: pin.name, observedHash: pin.observedHash };
    return decision === 'approve'
      ? trpc.catalog.approvePin.mutate(input)
      : trpc.catalog.rejectPin.mutate(input);
  });
  const run = async (decision: 'approve' | 'reject') => {
    const result = await decide.run(decision);
    if (result) {
      props.onDecided(
        decision === 'approve'
          ? `The ${props.pin.kind} ${props.pin.name} was approved and can be called again.`
          : `The ${props.pin.kind} ${props.pin.name} was rejected.`,
      );
    }
  };
  const decidable = () =>
    props.pin.observedHash !== null && props.pin.state !== 'approved' && props.pin.state !== 'removed';
  const headingId = createUniqueId();
  return (
    <li class="cat-panel" aria-labelledby={headingId}>
      <div class="cat-panel-header">
        <h3 id={headingId} class="cat-panel-title">
          <code>{props.pin.name}</code>
        </h3>
        <Show when={props.pin.kind === 'prompt'}>
          <Badge>prompt</Badge>
        </Show>
        <Badge tone={pinTone[props.pin.state]}>{props.pin.state}</Badge>
        <Show when={props.pin.changedAt}>
          <span class="muted cat-panel-meta">Changed {formatDateTime(props.pin.changedAt)}</span>
        </Show>
      </div>
      <Show when={props.description} fallback={<p class="muted">No description.</p>}>
        <p class="cat-pin-description">{props.description}</p>
      </Show>
      <Show when={props.pin.state !== 'approved'}>
        <p class="field-hint">{pinExplanations[props.pin.state]}</p>
      </Show>
      <Show when={props.pin.diff.length > 0 && props.pin.state !== 'approved'}>
        <div class="cat-stack-tight">
          <p class="cat-diff-caption">
            {props.pin.state === 'new'
              ? 'Definition offered by the server:'
              : 'Approved definition → what the server offers now:'}
          </p>
          <For each={props.pin.diff}>{(diff) => <DefinitionDiff diff={diff} />}</For>
        </div>
      </Show>
      <ErrorNotice error={decide.error()} title={`The ${props.pin.kind} could not be updated`} />
      <Show when={canManage() && decidable()}>
        <div class="row">
          <Button
            size="sm"
            variant="primary"
            busy={decide.pending()}
            aria-label={`Approve ${props.pin.kind} ${props.pin.name}`}
            onClick={() => void run('approve')}
          >
            Approve
          </Button>
          <Show when={props.pin.state !== 'rejected'}>
            <Button
              size="sm"
              variant="danger"
              busy={decide.pending()}
              aria-label={`Reject ${props.pin.kind} ${props.pin.name}`}
              onClick={() => void run('reject')}
            >
              Reject
            </Button>
          </Show>
        </div>
      </Show>
    </li>
  );
}

/** The description a reviewer should read: the observed one for a change, else what discovery recorded. */
function descriptionOf(pin: Pin, discovery: Discovery | null | undefined): string | undefined {
  const changed = pin.diff.find((diff) => diff.field === 'description');
  if (changed && pin.state !== 'approved' && typeof changed.after === 'string') return changed.after;
  const items: readonly { name: string; description?: string }[] =
    (pin.kind as PinKind) === 'tool' ? (discovery?.tools ?? []) : (discovery?.prompts ?? []);
  return items.find((item) => item.name === pin.name)?.description;
}

/** Tools and prompts as pinned: approved, or waiting for a decision after the server changed them. */
export function ToolsSection(props: {
  mcpId: string;
  pins: Query<{ items: Pin[] }>;
  /** The live version's discovery, for descriptions. */
  discovery: Discovery | null | undefined;
  onDecided: (message: string) => void;
}) {
  const items = () => sortPins(props.pins.data()?.items ?? []);
  const pending = () => items().filter((pin) => pendingStates.has(pin.state)).length;
  const count = (kind: PinKind) => items().filter((pin) => pin.kind === kind).length;
  return (
    <section class="stack" aria-labelledby="mcp-tools-title">
      <div class="cat-section-header">
        <h2 id="mcp-tools-title" class="section-title">
          Tools
        </h2>
        <Show when={props.pins.data()}>
          <span class="muted">
            {plural(count('tool'), 'tool')}
            <Show when={count('prompt') > 0}>, {plural(count('prompt'), 'prompt')}</Show>
          </span>
          <Show when={pending() > 0}>
            <Badge tone="warning">{plural(pending(), 'to review', 'to review')}</Badge>
          </Show>
        </Show>
      </div>
      <ErrorNotice error={props.pins.error()} title="Tools could not be loaded" />
      <Show when={!props.pins.data() && props.pins.loading()}>
        <Loading label="Loading tools…" />
      </Show>
      <Show when={props.pins.data()}>
        <Show
          when={items().length > 0}
          fallback={
            <p class="muted">
              No tools are pinned yet. Publishing approves exactly the tools that discovery found.
            </p>
          }
        >
          <ul class="cat-plain-list">
            <For each={items()}>
              {(pin) => (
                <PinItem
                  mcpId={props.mcpId}
                  pin={pin}
                  description={descriptionOf(pin, props.discovery)}
                  onDecided={props.onDecided}
                />
              )}
            </For>
          </ul>
        </Show>
      </Show>
    </section>
  );
}
