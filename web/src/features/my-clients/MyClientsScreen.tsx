import { PageHeader } from '../../ui/index.js';

// Placeholder while this screen is being built.
export function MyClientsScreen() {
  return <PageHeader title="MyClientsScreen" />;
}
