import { PageHeader } from '../../ui/index.js';

// Placeholder while this screen is being built.
export function MyClientDetailScreen(props: { id: string }) {
  return <PageHeader title={props.id} />;
}
