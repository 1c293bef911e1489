import {
  ArchiveMcpInput,
  type CredentialField,
  EngageKillSwitchInput,
  type McpDetail,
  ReleaseKillSwitchInput,
} from '@gatehouse/schema';
import { createSignal, For } from 'solid-js';
import { createAction } from '../../lib/async.js';
import { type AppError, fieldError, validate } from '../../lib/errors.js';
import { trpc } from '../../lib/trpc.js';
import { ConfirmDialog, Dialog, DialogForm, TextField } from '../../ui/index.js';
import { invalidForm } from './mcp-form.js';

/** Archiving hides the MCP and stops its instances; its versions and pins are kept. */
export function ArchiveDialog(props: { mcp: McpDetail; onClose: () => void; onDone: () => void }) {
  const [reason, setReason] = createSignal('');
  return (
    <ConfirmDialog
      title={`Archive ${props.mcp.name}?`}
      confirmLabel="Archive MCP"
      danger
      onClose={props.onClose}
      onConfirm={async () => {
        const input = { id: props.mcp.id, reason: reason().trim() || undefined };
        const checked = validate(ArchiveMcpInput, input);
        if (!checked.ok) throw checked.error;
        await trpc.catalog.archive.mutate(input);
        props.onDone();
      }}
    >
      <p>
        <strong>{props.mcp.name}</strong> disappears from the marketplace, every call to it is refused and its
        running instances stop. Its versions and approved tools are kept.
      </p>
      <TextField
        label="Reason"
        value={reason()}
        onInput={setReason}
        rows={2}
        maxLength={500}
        hint="Optional. Recorded in the audit log."
      />
    </ConfirmDialog>
  );
}

/** Engages the MCP's kill switch: refused everywhere from the next request on, instances stopped. */
export function KillDialog(props: { mcp: McpDetail; onClose: () => void; onDone: () => void }) {
  const [reason, setReason] = createSignal('');
  const kill = createAction(async () => {
    const input = { targetType: 'mcp' as const, targetId: props.mcp.id, reason: reason().trim() };
    if (!input.reason) {
      throw invalidForm({ reason: ['is required'] });
    }
    const checked = validate(EngageKillSwitchInput, input);
    if (!checked.ok) throw checked.error;
    return trpc.killSwitches.engage.mutate(input);
  });
  const submit = async () => {
    if (await kill.run(undefined)) props.onDone();
  };
  return (
    <Dialog
      title={`Kill ${props.mcp.name}?`}
      onClose={props.onClose}
      size="sm"
      preventClose={kill.pending()}
      description="For emergencies: the MCP vanishes from every session at once, in-flight calls are cancelled and its instances stop, until an admin un-kills it."
    >
      <DialogForm
        onSubmit={() => void submit()}
        onCancel={props.onClose}
        submitLabel="Kill MCP"
        submitVariant="danger"
        pending={kill.pending()}
        error={kill.error()}
      >
        <TextField
          label="Reason"
          value={reason()}
          onInput={setReason}
          rows={2}
          maxLength={500}
          required
          autofocus
          hint="Recorded in the audit log and shown to admins."
          error={fieldError(kill.error(), 'reason')}
        />
      </DialogForm>
    </Dialog>
  );
}

/** Releases the kill switch: the MCP serves again as it did before. */
export function UnkillDialog(props: { mcp: McpDetail; onClose: () => void; onDone: () => void }) {
  const [reason, setReason] = createSignal('');
  const release = createAction(async () => {
    const input = {
      targetType: 'mcp' as const,
      targetId: props.mcp.id,
      reason: reason().trim() || undefined,
    };
    const checked = validate(ReleaseKillSwitchInput, input);
    if (!checked.ok) throw checked.error;
    return trpc.killSwitches.release.mutate(input);
  });
  const submit = async () => {
    if (await release.run(undefined)) props.onDone();
  };
  return (
    <Dialog
      title={`Un-kill ${props.mcp.name}?`}
      onClose={props.onClose}
      size="sm"
      preventClose={release.pending()}
      description="The MCP is offered again from the next request on; its instances start when used (or at once, for eager shared MCPs)."
    >
      <DialogForm
        onSubmit={() => void submit()}
        onCancel={props.onClose}
        submitLabel="Un-kill MCP"
        pending={release.pending()}
        error={release.error()}
      >
        <TextField
          label="Reason"
          value={reason()}
          onInput={setReason}
          rows={2}
          maxLength={500}
          autofocus
          hint="Optional. Recorded in the audit log."
          error={fieldError(release.error(), 'reason')}
        />
      </DialogForm>
    </Dialog>
  );
}

/**
 * Discovery connects to the MCP for real, so it needs the credential values: they are used for this one run and
 * never stored.
 */
export function DiscoverDialog(props: {
  version: number;
  fields: readonly CredentialField[];
  pending: boolean;
  error: AppError | undefined;
  onSubmit: (credentials: Record<string, string>) => void;
  onClose: () => void;
}) {
  const [values, setValues] = createSignal<Record<string, string>>({});
  const submit = () => {
    const entered = Object.fromEntries(Object.entries(values()).filter(([, value]) => value !== ''));
    props.onSubmit(entered);
  };
  return (
    <Dialog
      title={`Discover the tools of version ${props.version}`}
      onClose={props.onClose}
      preventClose={props.pending}
      description="Gatehouse starts the MCP with these values to list its tools. They are used for this run only: never stored, logged or audited."
    >
      <DialogForm
        onSubmit={submit}
        onCancel={props.onClose}
        submitLabel="Run discovery"
        pending={props.pending}
        error={props.error}
      >
        <For each={props.fields}>
          {(field) => (
            <TextField
              label={field.label}
              type={field.secret ? 'password' : 'text'}
              value={values()[field.name] ?? ''}
              onInput={(value) => setValues((current) => ({ ...current, [field.name]: value }))}
              autocomplete={field.secret ? 'new-password' : 'off'}
              spellcheck={false}
              required={field.required}
              maxLength={8192}
              hint={[field.help, field.required ? '' : 'Optional.'].filter(Boolean).join(' ') || undefined}
              error={fieldError(props.error, `temporaryCredentials.${field.name}`)}
            />
          )}
        </For>
      </DialogForm>
    </Dialog>
  );
}
