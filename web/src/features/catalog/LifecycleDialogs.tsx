import { ArchiveMcpInput, type CredentialField, type McpDetail } from '@gatehouse/schema';
import { createSignal, For } from 'solid-js';
import { type AppError, fieldError, validate } from '../../lib/errors.js';
import { trpc } from '../../lib/trpc.js';
import { ConfirmDialog, Dialog, DialogForm, TextField } from '../../ui/index.js';

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
