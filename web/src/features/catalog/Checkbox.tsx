import { createUniqueId, Show } from 'solid-js';

/** A labelled checkbox with an optional hint; the whole label toggles it. */
export function Checkbox(props: {
  label: string;
  checked: boolean;
  onChange: (checked: boolean) => void;
  hint?: string;
  disabled?: boolean;
  invalid?: boolean;
  /** An element (such as a fieldset's error) that describes this box as well. */
  describedBy?: string;
}) {
  const id = createUniqueId();
  const hintId = `${id}-hint`;
  const describedBy = () =>
    [props.hint ? hintId : undefined, props.describedBy].filter(Boolean).join(' ') || undefined;
  return (
    <div class="cat-check">
      <input
        id={id}
        type="checkbox"
        checked={props.checked}
        disabled={props.disabled}
        aria-invalid={props.invalid ? 'true' : undefined}
        aria-describedby={describedBy()}
        onChange={(event) => props.onChange(event.currentTarget.checked)}
      />
      <div class="cat-check-text">
        <label for={id}>{props.label}</label>
        <Show when={props.hint}>
          <p id={hintId} class="field-hint">
            {props.hint}
          </p>
        </Show>
      </div>
    </div>
  );
}
