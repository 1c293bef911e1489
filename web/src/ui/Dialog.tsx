import { createUniqueId, type JSX, onCleanup, onMount, Show } from 'solid-js';
import type { AppError } from '../lib/errors.js';
import { Button } from './Button.js';
import { Form } from './Form.js';
import { ErrorNotice } from './Notice.js';

/**
 * A modal dialog on the native <dialog> element (focus containment, Escape, inert background). It is open
 * while mounted: render it conditionally. Focus returns to where it was when the dialog closes.
 */
export function Dialog(props: {
  title: string;
  onClose: () => void;
  children: JSX.Element;
  description?: JSX.Element;
  size?: 'sm' | 'md' | 'lg';
  /** While true, Escape does not close the dialog (for example while a call is in flight). */
  preventClose?: boolean;
}) {
  let dialog: HTMLDialogElement | undefined;
  const titleId = createUniqueId();
  const descriptionId = createUniqueId();
  const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;

  let disposed = false;

  onMount(() => dialog?.showModal());
  onCleanup(() => {
    disposed = true;
    if (dialog?.open) dialog.close();
    if (opener?.isConnected) opener.focus();
  });

  return (
    <dialog
      ref={dialog}
      class={`dialog dialog-${props.size ?? 'md'}`}
      aria-labelledby={titleId}
      aria-describedby={props.description ? descriptionId : undefined}
      onCancel={(event) => {
        if (props.preventClose) event.preventDefault();
      }}
      // The browser may close a dialog on its own (a repeated Escape cannot be refused): keep the parent in step,
      // or reopen when closing is not allowed right now.
      onClose={() => {
        if (disposed) return;
        if (props.preventClose) dialog?.showModal();
        else props.onClose();
      }}
    >
      <div class="dialog-header">
        <h2 id={titleId} class="dialog-title">
          {props.title}
        </h2>
        <Show when={props.description}>
          <div id={descriptionId} class="dialog-description">
            {props.description}
          </div>
        </Show>
      </div>
      {props.children}
    </dialog>
  );
}

/** The standard body of a dialog that holds a form: fields, then an error notice, then the buttons. */
export function DialogForm(props: {
  onSubmit: () => void;
  children: JSX.Element;
  error?: AppError;
  submitLabel: string;
  submitVariant?: 'primary' | 'danger';
  pending?: boolean;
  onCancel: () => void;
  cancelLabel?: string;
  /** Put initial focus on Cancel rather than the first field (for destructive confirmations). */
  focusCancel?: boolean;
}) {
  return (
    <Form class="dialog-form" onSubmit={props.onSubmit} pending={props.pending} error={props.error}>
      <div class="dialog-body">
        {props.children}
        <ErrorNotice error={props.error} />
      </div>
      <div class="dialog-actions">
        <Button onClick={() => props.onCancel()} disabled={props.pending} autofocus={props.focusCancel}>
          {props.cancelLabel ?? 'Cancel'}
        </Button>
        <Button type="submit" variant={props.submitVariant ?? 'primary'} busy={props.pending}>
          {props.submitLabel}
        </Button>
      </div>
    </Form>
  );
}
