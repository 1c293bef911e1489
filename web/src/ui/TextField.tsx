import type { JSX } from 'solid-js';
import { Field, type FieldErrorText } from './Field.js';

export interface TextFieldProps {
  label: string;
  value: string;
  onInput: (value: string) => void;
  name?: string;
  type?: 'text' | 'password' | 'email' | 'search';
  hint?: JSX.Element;
  error?: FieldErrorText;
  required?: boolean;
  disabled?: boolean;
  readOnly?: boolean;
  autocomplete?: string;
  autofocus?: boolean;
  placeholder?: string;
  maxLength?: number;
  spellcheck?: boolean;
  /** Renders a textarea with this many rows instead of a single-line input. */
  rows?: number;
  /** Class for the field wrapper (label, control, hint and error). */
  class?: string;
  ref?: (element: HTMLInputElement | HTMLTextAreaElement) => void;
}

export function TextField(props: TextFieldProps) {
  return (
    <Field
      label={props.label}
      hint={props.hint}
      error={props.error}
      required={props.required}
      class={props.class}
    >
      {(frame) =>
        props.rows ? (
          <textarea
            id={frame.id}
            ref={props.ref}
            class="input"
            name={props.name}
            rows={props.rows}
            value={props.value}
            onInput={(event) => props.onInput(event.currentTarget.value)}
            required={props.required}
            disabled={props.disabled}
            readOnly={props.readOnly}
            maxLength={props.maxLength}
            placeholder={props.placeholder}
            aria-invalid={frame.invalid ? 'true' : undefined}
            aria-describedby={frame.describedBy}
          />
        ) : (
          <input
            id={frame.id}
            ref={props.ref}
            class="input"
            name={props.name}
            type={props.type ?? 'text'}
            value={props.value}
            onInput={(event) => props.onInput(event.currentTarget.value)}
            required={props.required}
            disabled={props.disabled}
            readOnly={props.readOnly}
            autocomplete={props.autocomplete}
            autofocus={props.autofocus}
            maxLength={props.maxLength}
            placeholder={props.placeholder}
            spellcheck={props.spellcheck}
            aria-invalid={frame.invalid ? 'true' : undefined}
            aria-describedby={frame.describedBy}
          />
        )
      }
    </Field>
  );
}
