import type { McpDetail } from '@gatehouse/schema';
import { createSignal, Show } from 'solid-js';
import { createAction, createQuery, refreshEvery } from '../../lib/async.js';
import { showFlash } from '../../lib/flash.js';
import { formatDateTime, plural } from '../../lib/format.js';
import { paths } from '../../lib/router.js';
import { canManage } from '../../lib/session.js';
import { trpc } from '../../lib/trpc.js';
import { Badge, Button, ErrorNotice, Loading, Notice, PageHeader } from '../../ui/index.js';
import { KillSwitchDialog } from '../kill-switches/KillSwitchDialog.js';
import {
  GroupsSection,
  OAuthPendingNotice,
  OAuthSection,
  SharedCredentialsSection,
} from './AccessSections.js';
import { InstancesSection } from './InstancesSection.js';
import { ArchiveDialog, DiscoverDialog } from './LifecycleDialogs.js';
import { McpForm } from './McpForm.js';
import {
  changesSomething,
  formFromConfig,
  invalidForm,
  type McpFormValues,
  updateInputFromForm,
} from './mcp-form.js';
import {
  effectiveVersion,
  nextStep,
  statusTone,
  transportLabels,
  versionSummary,
  workingVersion,
} from './mcp-status.js';
import { ToolsSection } from './ToolsSection.js';
import { VersionSection } from './VersionSection.js';

const REFRESH_MS = 60_000;
const PINS_REFRESH_MS = 30_000;

type OpenDialog = 'archive' | 'kill' | 'unkill' | 'discover';

/**
 * One MCP for admins: its lifecycle (validate → discover → publish, archive, kill), its configuration versions,
 * pinned tools awaiting review, running instances and their logs, group access, and shared secrets.
 */
export function McpDetailScreen(props: { id: string }) {
  // Moving from one MCP to another keeps this screen mounted: start afresh, so no state or error carries over.
  return (
    <Show when={props.id} keyed>
      {(id) => <McpDetailView id={id} />}
    </Show>
  );
}

function McpDetailView(props: { id: string }) {
  const mcp = createQuery(
    () => props.id,
    (id) => trpc.catalog.get.query({ id }),
  );
  const pins = createQuery(
    () => props.id,
    (id) => trpc.catalog.pins.query({ id }),
  );
  const instances = createQuery(
    () => props.id,
    (mcpId) => trpc.runtime.instances.query({ mcpId }),
  );
  const kills = createQuery(
    () => true,
    () => trpc.killSwitches.list.query(),
  );
  const groups = createQuery(
    () => true,
    () => trpc.groups.list.query(),
  );
  for (const query of [mcp, instances, kills]) refreshEvery(query, REFRESH_MS);
  // Pins change on their own when the server changes a tool: reviews should not wait long to show.
  refreshEvery(pins, PINS_REFRESH_MS);

  const killSwitch = () =>
    kills.data()?.items.find((kill) => kill.targetType === 'mcp' && kill.targetId === props.id);
  const [editing, setEditing] = createSignal(false);
  const [dialog, setDialog] = createSignal<OpenDialog | null>(null);
  const close = () => setDialog(null);

  const refreshAll = async () => {
    await Promise.all([mcp.refetch(), pins.refetch(), instances.refetch(), kills.refetch()]);
  };
  const done = async (message: string) => {
    setDialog(null);
    showFlash(message);
    await refreshAll();
  };

  const validateAction = createAction(() => trpc.catalog.validate.mutate({ id: props.id }));
  const discoverAction = createAction((temporaryCredentials: Record<string, string>) =>
    trpc.catalog.discover.mutate({ id: props.id, temporaryCredentials }),
  );
  const publishAction = createAction(() => trpc.catalog.publish.mutate({ id: props.id }));
  const update = createAction((input: Parameters<typeof trpc.catalog.update.mutate>[0]) =>
    trpc.catalog.update.mutate(input),
  );
  const busy = () => validateAction.pending() || discoverAction.pending() || publishAction.pending();

  const runValidate = async (detail: McpDetail) => {
    const version = workingVersion(detail)?.version;
    const result = await validateAction.run(undefined);
    if (!result) return;
    if (result.status === 'valid') showFlash(`Version ${version} is valid. Discover its tools next.`);
    await mcp.refetch();
  };

  const runDiscover = async (credentials: Record<string, string>) => {
    const detail = await discoverAction.run(credentials);
    if (!detail) return;
    setDialog(null);
    const found = workingVersion(detail)?.discovery;
    showFlash(
      found
        ? `Discovery found ${plural(found.tools.length, 'tool')} and ${plural(found.prompts.length, 'prompt')}. Review them, then publish.`
        : 'Discovery finished.',
    );
    await mcp.refetch();
  };

  const startDiscover = (detail: McpDetail) => {
    discoverAction.setError(undefined);
    const fields = workingVersion(detail)?.config.credentials ?? [];
    if (fields.length > 0) setDialog('discover');
    else void runDiscover({});
  };

  const runPublish = async (detail: McpDetail) => {
    const version = workingVersion(detail)?.version;
    const published = await publishAction.run(undefined);
    if (published) await done(`Version ${version} of ${published.name} is live.`);
  };

  const saveEdit = async (detail: McpDetail, values: McpFormValues) => {
    const version = workingVersion(detail);
    if (!version) return;
    const checked = updateInputFromForm(
      {
        id: detail.id,
        name: detail.name,
        description: detail.description,
        iconUrl: detail.iconUrl,
        config: version.config,
      },
      values,
    );
    if (!checked.ok) return update.setError(invalidForm(checked.fieldErrors));
    if (!changesSomething(checked.input)) {
      setEditing(false);
      showFlash('Nothing was changed.');
      return;
    }
    const saved = await update.run(checked.input);
    if (!saved) return;
    setEditing(false);
    await done(
      checked.configChanged
        ? `Saved as version ${saved.candidateVersion}, the new candidate: validate, discover and publish it to make it live.`
        : 'The changes were saved.',
    );
  };

  /** The lifecycle step that comes next is the primary button. */
  const step = () => {
    const detail = mcp.data();
    return detail ? nextStep(detail).action : 'none';
  };
  const actionButton = (action: 'validate' | 'discover' | 'publish', label: string, onClick: () => void) => (
    <Button variant={step() === action ? 'primary' : 'secondary'} busy={busy()} onClick={onClick}>
      {label}
    </Button>
  );

  return (
    <>
      <a class="back-link" href={paths.mcps}>
        ← All MCPs
      </a>
      <Show when={mcp.error() && !mcp.data()}>
        <ErrorNotice error={mcp.error()} title="This MCP could not be loaded" />
      </Show>
      <Show when={!mcp.data() && mcp.loading()}>
        <Loading label="Loading MCP…" />
      </Show>
      <Show when={mcp.data()}>
        {(detail) => (
          <Show
            when={!editing()}
            fallback={
              <>
                <PageHeader
                  title={`Edit ${detail().name}`}
                  description="Name, description and icon change at once. Any other change becomes a new version; the live version keeps serving until you publish it."
                />
                <Show when={workingVersion(detail())}>
                  {(version) => (
                    <McpForm
                      mode="edit"
                      initial={formFromConfig(detail(), version().config)}
                      submitLabel="Save changes"
                      pending={update.pending()}
                      error={update.error()}
                      onSubmit={(values) => void saveEdit(detail(), values)}
                      onCancel={() => {
                        update.setError(undefined);
                        setEditing(false);
                      }}
                    />
                  )}
                </Show>
              </>
            }
          >
            <PageHeader
              title={detail().name}
              badge={
                <>
                  <Badge tone={statusTone[detail().status]}>{detail().status}</Badge>
                  <Show when={killSwitch()}>
                    <Badge tone="danger">killed</Badge>
                  </Show>
                </>
              }
              description={detail().description || undefined}
              meta={
                <>
                  <code>{detail().slug}</code> · {transportLabels[detail().transport]} ·{' '}
                  {detail().isolation === 'shared' ? 'shared' : 'per user'} · {versionSummary(detail())}
                </>
              }
              actions={
                <Show when={canManage()}>
                  <Button onClick={() => setEditing(true)}>Edit</Button>
                  {actionButton('validate', 'Validate', () => void runValidate(detail()))}
                  {actionButton('discover', 'Discover tools', () => startDiscover(detail()))}
                  <Show when={!(detail().status === 'published' && !detail().candidate)}>
                    {actionButton('publish', 'Publish', () => void runPublish(detail()))}
                  </Show>
                  <Show when={detail().status !== 'archived'}>
                    <Button variant="ghost" class="btn-danger-text" onClick={() => setDialog('archive')}>
                      Archive
                    </Button>
                  </Show>
                  <Show
                    when={killSwitch()}
                    fallback={
                      <Button variant="danger" onClick={() => setDialog('kill')}>
                        Kill…
                      </Button>
                    }
                  >
                    <Button variant="primary" onClick={() => setDialog('unkill')}>
                      Un-kill
                    </Button>
                  </Show>
                </Show>
              }
            />
            <ErrorNotice error={mcp.error()} title="The MCP could not be refreshed" />
            <Show when={killSwitch()}>
              {(kill) => (
                <Notice tone="warning" title="This MCP is killed">
                  <p>
                    It is refused everywhere and its instances are stopped, since{' '}
                    {formatDateTime(kill().killedAt)}. Reason: {kill().reason}
                  </p>
                </Notice>
              )}
            </Show>
            <ErrorNotice
              error={validateAction.error()}
              title="Validation could not run"
              onDismiss={() => validateAction.setError(undefined)}
            />
            <Show when={dialog() !== 'discover'}>
              <ErrorNotice
                error={discoverAction.error()}
                title="Discovery failed"
                onDismiss={() => discoverAction.setError(undefined)}
              />
            </Show>
            <ErrorNotice
              error={publishAction.error()}
              title="Publishing failed"
              onDismiss={() => publishAction.setError(undefined)}
            />
            <Show when={canManage()}>
              <Notice tone="info">{nextStep(detail()).text}</Notice>
            </Show>

            <Show when={workingVersion(detail())}>
              {(version) => <VersionSection detail={detail()} version={version()} />}
            </Show>

            <ToolsSection
              mcpId={detail().id}
              pins={pins}
              discovery={detail().live?.discovery}
              onDecided={(message) => void done(message)}
            />

            <InstancesSection instances={instances} onChanged={done} />

            <GroupsSection mcp={detail()} groups={groups} onSaved={done} />

            <Show when={canManage() && effectiveVersion(detail())}>
              {(version) => (
                <>
                  <Show
                    when={version().config.isolation === 'shared' && version().config.credentials.length > 0}
                  >
                    <SharedCredentialsSection mcpId={detail().id} onSaved={done} />
                  </Show>
                  <Show
                    when={version().config.oauth}
                    fallback={
                      <Show when={detail().candidate?.config.oauth}>
                        <OAuthPendingNotice />
                      </Show>
                    }
                  >
                    {(oauth) => <OAuthSection mcpId={detail().id} oauth={oauth()} onSaved={done} />}
                  </Show>
                </>
              )}
            </Show>

            <Show when={dialog() === 'archive'}>
              <ArchiveDialog
                mcp={detail()}
                onClose={close}
                onDone={() => void done(`${detail().name} was archived and its instances stopped.`)}
              />
            </Show>
            <Show when={dialog() === 'kill'}>
              <KillSwitchDialog
                mode="engage"
                target={{ type: 'mcp', id: detail().id, name: detail().name }}
                description="For emergencies: the MCP vanishes from every session at once, in-flight calls are cancelled and its instances stop, until an admin un-kills it."
                onClose={close}
                onDone={() =>
                  void done(`${detail().name} was killed: it is refused everywhere until un-killed.`)
                }
              />
            </Show>
            <Show when={dialog() === 'unkill'}>
              <KillSwitchDialog
                mode="release"
                target={{ type: 'mcp', id: detail().id, name: detail().name }}
                description="The MCP is offered again from the next request on; its instances start when used (or at once, for eager shared MCPs)."
                onClose={close}
                onDone={() => void done(`${detail().name} was un-killed and serves again.`)}
              />
            </Show>
            <Show when={dialog() === 'discover' ? workingVersion(detail()) : undefined}>
              {(version) => (
                <DiscoverDialog
                  version={version().version}
                  fields={version().config.credentials}
                  pending={discoverAction.pending()}
                  error={discoverAction.error()}
                  onSubmit={(credentials) => void runDiscover(credentials)}
                  onClose={close}
                />
              )}
            </Show>
          </Show>
        )}
      </Show>
    </>
  );
}
