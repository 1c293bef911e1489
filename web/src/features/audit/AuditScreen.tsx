import { PageHeader } from '../../ui/index.js';

// Placeholder while this screen is being built.
export function AuditScreen() {
  return <PageHeader title="AuditScreen" />;
}
