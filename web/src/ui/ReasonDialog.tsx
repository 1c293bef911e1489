import { createSignal } from 'solid-js';
import { createAction } from '../lib/async.js';
import { Dialog, DialogForm } from './Dialog.js';
import { TextField } from './TextField.js';

/** A destructive step that records why: the reason goes into the audit trail. */
export function ReasonDialog(props: {
  title: string;
  confirmLabel: string;
  explanation: string;
  onConfirm: (reason: string) => Promise<void>;
  onClose: () => void;
}) {
  const [reason, setReason] = createSignal('');
  const action = createAction((value: string) => props.onConfirm(value));
  return (
    <Dialog title={props.title} onClose={props.onClose} size="sm" preventClose={action.pending()}>
      <DialogForm
        onSubmit={() => void action.run(reason().trim())}
        onCancel={props.onClose}
        submitLabel={props.confirmLabel}
        submitVariant="danger"
        pending={action.pending()}
        error={action.error()}
      >
        <p>{props.explanation}</p>
        <TextField
          label="Reason"
          value={reason()}
          onInput={setReason}
          required
          maxLength={500}
          error={action.error()?.fieldErrors.reason}
        />
      </DialogForm>
    </Dialog>
  );
}
