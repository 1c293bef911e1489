import { PageHeader } from '../../ui/index.js';

// Placeholder while this screen is being built.
export function OverviewScreen() {
  return <PageHeader title="OverviewScreen" />;
}
