import { createEffect, type JSX, on } from 'solid-js';
import type { AppError } from '../lib/errors.js';

/**
 * A real <form>: Enter submits, the browser's own validation bubbles are off (fields show errors inline, in one
 * style for local and server errors), and after a failed submit focus moves to the first invalid field.
 */
export function Form(props: {
  onSubmit: () => void;
  children: JSX.Element;
  error?: AppError;
  pending?: boolean;
  class?: string;
  'aria-label'?: string;
}) {
  let form: HTMLFormElement | undefined;
  createEffect(
    on(
      () => props.error,
      (error) => {
        if (!error || Object.keys(error.fieldErrors).length === 0) return;
        requestAnimationFrame(() => form?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus());
      },
      { defer: true },
    ),
  );
  return (
    <form
      ref={form}
      class={props.class}
      aria-label={props['aria-label']}
      noValidate
      onSubmit={(event) => {
        event.preventDefault();
        if (!props.pending) props.onSubmit();
      }}
    >
      {props.children}
    </form>
  );
}
