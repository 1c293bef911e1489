import { PageHeader } from '../../ui/index.js';

// Placeholder while this screen is being built.
export function CredentialsScreen() {
  return <PageHeader title="CredentialsScreen" />;
}
