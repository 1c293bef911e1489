import { PageHeader } from '../../ui/index.js';

// Placeholder while this screen is being built.
export function McpListScreen() {
  return <PageHeader title="McpListScreen" />;
}
