import type { Me } from '@gatehouse/schema';
import { PageHeader } from '../../ui/index.js';

// Placeholder while this screen is being built.
export function ActivityScreen(props: { me: Me }) {
  return <PageHeader title={props.me.user.displayName} />;
}
