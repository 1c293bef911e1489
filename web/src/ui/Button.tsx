import { type JSX, mergeProps, splitProps } from 'solid-js';

export type ButtonVariant = 'primary' | 'secondary' | 'danger' | 'ghost';

export type ButtonProps = JSX.ButtonHTMLAttributes<HTMLButtonElement> & {
  variant?: ButtonVariant;
  size?: 'md' | 'sm';
  /** Disables the button and tells assistive technology that work is under way. */
  busy?: boolean;
};

export function Button(props: ButtonProps) {
  const merged = mergeProps(
    { variant: 'secondary' as ButtonVariant, size: 'md' as const, type: 'button' as const },
    props,
  );
  const [local, rest] = splitProps(merged, [
    'variant',
    'size',
    'busy',
    'class',
    'type',
    'disabled',
    'children',
  ]);
  return (
    <button
      {...rest}
      type={local.type}
      class={['btn', `btn-${local.variant}`, local.size === 'sm' && 'btn-sm', local.class]
        .filter(Boolean)
        .join(' ')}
      disabled={local.disabled || local.busy}
      aria-busy={local.busy ? 'true' : undefined}
    >
      {local.children}
    </button>
  );
}
