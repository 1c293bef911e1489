import { EngageKillSwitchInput, type KillTargetType, ReleaseKillSwitchInput } from '@gatehouse/schema';
import { createSignal } from 'solid-js';
import { createAction } from '../../lib/async.js';
import { fieldError, validate } from '../../lib/errors.js';
import { trpc } from '../../lib/trpc.js';
import { Dialog, DialogForm, TextField } from '../../ui/index.js';

const nouns: Record<KillTargetType, string> = { mcp: 'MCP', client: 'client', user: 'user' };

/**
 * Engages or releases a kill switch on an MCP, client or user. Engaging needs a reason, which goes into the
 * audit trail; releasing takes an optional one.
 */
export function KillSwitchDialog(props: {
  mode: 'engage' | 'release';
  target: { type: KillTargetType; id: string; name: string };
  /** What happens, in a sentence or two, shown under the title. */
  description: string;
  onClose: () => void;
  onDone: () => void;
}) {
  const [reason, setReason] = createSignal('');
  const engaging = () => props.mode === 'engage';
  const noun = () => nouns[props.target.type];
  const action = createAction(async () => {
    const trimmed = reason().trim();
    const base = { targetType: props.target.type, targetId: props.target.id };
    if (engaging()) {
      const checked = validate(EngageKillSwitchInput, { ...base, reason: trimmed });
      if (!checked.ok) throw checked.error;
      return trpc.killSwitches.engage.mutate(checked.data);
    }
    const checked = validate(ReleaseKillSwitchInput, { ...base, reason: trimmed || undefined });
    if (!checked.ok) throw checked.error;
    return trpc.killSwitches.release.mutate(checked.data);
  });
  const submit = async () => {
    if (await action.run(undefined)) props.onDone();
  };
  return (
    <Dialog
      title={`${engaging() ? 'Kill' : 'Un-kill'} ${props.target.name}?`}
      onClose={props.onClose}
      size="sm"
      preventClose={action.pending()}
      description={props.description}
    >
      <DialogForm
        onSubmit={() => void submit()}
        onCancel={props.onClose}
        submitLabel={`${engaging() ? 'Kill' : 'Un-kill'} ${noun()}`}
        submitVariant={engaging() ? 'danger' : 'primary'}
        pending={action.pending()}
        error={action.error()}
      >
        <TextField
          label="Reason"
          value={reason()}
          onInput={setReason}
          rows={2}
          maxLength={500}
          required={engaging()}
          autofocus
          hint={
            engaging()
              ? 'Recorded in the audit log and shown to admins.'
              : 'Optional. Recorded in the audit log.'
          }
          error={fieldError(action.error(), 'reason')}
        />
      </DialogForm>
    </Dialog>
  );
}
