import type { JSX } from 'solid-js';
import { createAction } from '../lib/async.js';
import { Dialog, DialogForm } from './Dialog.js';

/**
 * Asks before doing something consequential. `onConfirm` performs the call; if it throws, the error is shown
 * here and the dialog stays open. The caller closes the dialog when the call succeeds.
 */
export function ConfirmDialog(props: {
  title: string;
  children: JSX.Element;
  confirmLabel: string;
  danger?: boolean;
  onConfirm: () => Promise<unknown>;
  onClose: () => void;
}) {
  const action = createAction(() => props.onConfirm());
  return (
    <Dialog title={props.title} onClose={props.onClose} size="sm" preventClose={action.pending()}>
      <DialogForm
        onSubmit={() => void action.run(undefined)}
        onCancel={props.onClose}
        submitLabel={props.confirmLabel}
        submitVariant={props.danger ? 'danger' : 'primary'}
        pending={action.pending()}
        error={action.error()}
        focusCancel={props.danger}
      >
        <div class="confirm-message">{props.children}</div>
      </DialogForm>
    </Dialog>
  );
}
