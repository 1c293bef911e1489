import type { JSX } from 'solid-js';

export function Brand(props: { class?: string }) {
  return (
    <span class={['brand', props.class].filter(Boolean).join(' ')}>
      <span class="brand-mark" aria-hidden="true">
        G
      </span>
      Gatehouse
    </span>
  );
}

/** The centred card used before sign-in (setup and sign-in). */
export function AuthLayout(props: {
  title: string;
  intro?: JSX.Element;
  wide?: boolean;
  children: JSX.Element;
}) {
  return (
    <main class="auth-page">
      <Brand class="auth-brand" />
      <section class="auth-card" classList={{ 'auth-card-wide': props.wide }} aria-labelledby="auth-title">
        <div class="stack" style={{ gap: 'var(--space-2)' }}>
          <h1 id="auth-title" class="auth-title">
            {props.title}
          </h1>
          {props.intro}
        </div>
        {props.children}
      </section>
    </main>
  );
}
