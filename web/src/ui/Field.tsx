import { createUniqueId, For, type JSX, Show } from 'solid-js';

/** Label, control, hint and error, wired together: the control is described by its hint and error. */
export interface FieldFrame {
  id: string;
  describedBy: string | undefined;
  invalid: boolean;
}

/** One message or several; server messages such as "is already taken" are completed with the label. */
export type FieldErrorText = string | readonly string[];

const predicate = /^(is|are|must|uses|has|have|should|cannot|can't|does|contains)\b/i;

/** "is already taken" under "Username" reads as "Username is already taken"; other messages are sentence-cased. */
export function phraseFieldError(label: string, message: string): string {
  if (predicate.test(message)) return `${label} ${message}`;
  return message.charAt(0).toUpperCase() + message.slice(1);
}

const messagesOf = (error: FieldErrorText | undefined): readonly string[] =>
  error === undefined ? [] : typeof error === 'string' ? [error] : error;

export function Field(props: {
  label: string;
  hint?: JSX.Element;
  error?: FieldErrorText;
  required?: boolean;
  class?: string;
  children: (frame: FieldFrame) => JSX.Element;
}) {
  const id = createUniqueId();
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const invalid = () => messagesOf(props.error).length > 0;
  // An error replaces the hint: it says the same thing, more specifically.
  const showHint = () => Boolean(props.hint) && !invalid();
  const describedBy = () => (invalid() ? errorId : showHint() ? hintId : undefined);
  return (
    <div class={['field', props.class].filter(Boolean).join(' ')} classList={{ 'field-invalid': invalid() }}>
      <label class="field-label" for={id}>
        {props.label}
        <Show when={props.required}>
          <span class="field-required" aria-hidden="true">
            {' '}
            *
          </span>
        </Show>
      </label>
      {props.children({
        id,
        get describedBy() {
          return describedBy();
        },
        get invalid() {
          return invalid();
        },
      })}
      <Show when={showHint()}>
        <p id={hintId} class="field-hint">
          {props.hint}
        </p>
      </Show>
      <Show when={invalid()}>
        <div id={errorId} class="field-error">
          <For each={messagesOf(props.error)}>
            {(message) => <p>{phraseFieldError(props.label, message)}</p>}
          </For>
        </div>
      </Show>
    </div>
  );
}
