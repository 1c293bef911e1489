import type {
  InstanceState,
  McpDetail,
  McpStatus,
  McpTransport,
  McpVersion,
  PinState,
  ValidationStatus,
} from '@gatehouse/schema';
import type { BadgeTone } from '../../ui/Badge.js';

/** Labels and badge tones for the catalog's states, and what an admin should do next with an MCP. */

export const statusTone: Record<McpStatus, BadgeTone> = {
  draft: 'neutral',
  published: 'success',
  archived: 'warning',
};

/** The transport select shows the short names admins know from registry documents. */
export const transportLabels: Record<McpTransport, string> = {
  stdio: 'stdio',
  'streamable-http': 'http',
  sse: 'sse',
};

export const validationTone: Record<ValidationStatus, BadgeTone> = {
  pending: 'neutral',
  valid: 'success',
  invalid: 'danger',
};

export const validationLabels: Record<ValidationStatus, string> = {
  pending: 'not validated',
  valid: 'valid',
  invalid: 'invalid',
};

export const pinTone: Record<PinState, BadgeTone> = {
  approved: 'success',
  changed: 'warning',
  new: 'accent',
  removed: 'neutral',
  rejected: 'danger',
};

export const pinExplanations: Record<PinState, string> = {
  approved: 'Callable, exactly as approved.',
  changed: 'Quarantined: the definition changed since it was approved. Review the difference.',
  new: 'Held: the server started offering it after publishing. Review it before anyone can call it.',
  removed: 'The server no longer offers it.',
  rejected: 'Refused until the server reports yet another definition.',
};

export const instanceTone: Record<InstanceState, BadgeTone> = {
  starting: 'accent',
  ready: 'success',
  backoff: 'warning',
  circuit_open: 'danger',
  stopping: 'neutral',
  stopped: 'neutral',
};

export const instanceLabels: Record<InstanceState, string> = {
  starting: 'starting',
  ready: 'ready',
  backoff: 'backing off',
  circuit_open: 'circuit open',
  stopping: 'stopping',
  stopped: 'stopped',
};

/** Validate, discover and publish act on the candidate when there is one, else on the live version. */
export function workingVersion(detail: Pick<McpDetail, 'candidate' | 'live'>): McpVersion | null {
  return detail.candidate ?? detail.live;
}

/** Credentials and OAuth follow the live version, or the candidate before anything is live (as the server does). */
export function effectiveVersion(detail: Pick<McpDetail, 'candidate' | 'live'>): McpVersion | null {
  return detail.live ?? detail.candidate;
}

export type NextStep = { action: 'validate' | 'discover' | 'publish' | 'none'; text: string };

/** The one thing the lifecycle needs next, in words. */
export function nextStep(detail: Pick<McpDetail, 'status' | 'candidate' | 'live'>): NextStep {
  if (detail.status === 'archived') {
    return {
      action: 'none',
      text: 'Archived: hidden from the marketplace and refused at call time. Versions and pins are kept.',
    };
  }
  const version = workingVersion(detail);
  if (!version) return { action: 'none', text: 'This MCP has no configuration yet.' };
  if (detail.status === 'published' && !detail.candidate) {
    return {
      action: 'none',
      text: `Version ${version.version} is live. Edit the configuration to prepare a new one.`,
    };
  }
  if (version.validationStatus === 'pending') {
    return { action: 'validate', text: `Next: validate version ${version.version}.` };
  }
  if (version.validationStatus === 'invalid') {
    return {
      action: 'validate',
      text: `Version ${version.version} has problems. Fix them with Edit (which makes a new version), or validate again.`,
    };
  }
  if (!version.discovery) {
    return { action: 'discover', text: `Next: discover the tools of version ${version.version}.` };
  }
  return {
    action: 'publish',
    text:
      detail.live && detail.candidate
        ? `Version ${version.version} is ready to replace live version ${detail.live.version}.`
        : `Version ${version.version} is ready to publish.`,
  };
}

/** "Live v2 · candidate v3" for headers and tables. */
export function versionSummary(summary: {
  liveVersion: number | null;
  candidateVersion: number | null;
}): string {
  const parts = [
    summary.liveVersion !== null ? `live v${summary.liveVersion}` : null,
    summary.candidateVersion !== null ? `candidate v${summary.candidateVersion}` : null,
  ].filter(Boolean);
  return parts.length > 0 ? parts.join(' · ') : 'no version';
}

/** "3h 12m" for an instance's uptime. */
export function formatUptime(seconds: number | null): string {
  if (seconds === null) return '—';
  const total = Math.max(0, Math.floor(seconds));
  const days = Math.floor(total / 86_400);
  const hours = Math.floor((total % 86_400) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  if (days > 0) return `${days}d ${hours}h`;
  if (hours > 0) return `${hours}h ${minutes}m`;
  if (minutes > 0) return `${minutes}m`;
  return `${total}s`;
}

/** Case-insensitive match on slug, name and description, for the list's search box. */
export function matchesSearch(
  mcp: { slug: string; name: string; description: string },
  search: string,
): boolean {
  const needle = search.trim().toLowerCase();
  if (!needle) return true;
  return [mcp.slug, mcp.name, mcp.description].some((text) => text.toLowerCase().includes(needle));
}
