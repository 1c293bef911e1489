import { For, type JSX } from 'solid-js';
import { Field, type FieldErrorText } from './Field.js';

export interface SelectOption<V extends string> {
  value: V;
  label: string;
}

export function Select<V extends string>(props: {
  label: string;
  value: V;
  options: readonly SelectOption<V>[];
  onChange: (value: V) => void;
  name?: string;
  hint?: JSX.Element;
  error?: FieldErrorText;
  required?: boolean;
  disabled?: boolean;
  class?: string;
}) {
  return (
    <Field
      label={props.label}
      hint={props.hint}
      error={props.error}
      required={props.required}
      class={props.class}
    >
      {(frame) => (
        <select
          id={frame.id}
          class="input select"
          name={props.name}
          value={props.value}
          onChange={(event) => props.onChange(event.currentTarget.value as V)}
          required={props.required}
          disabled={props.disabled}
          aria-invalid={frame.invalid ? 'true' : undefined}
          aria-describedby={frame.describedBy}
        >
          <For each={props.options}>
            {(option) => (
              <option value={option.value} selected={option.value === props.value}>
                {option.label}
              </option>
            )}
          </For>
        </select>
      )}
    </Field>
  );
}
