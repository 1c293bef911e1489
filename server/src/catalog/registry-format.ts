import {
  CredentialField,
  type CredentialField as CredentialFieldType,
  McpConfig,
  type McpConfigInput,
} from '@gatehouse/schema';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { fieldErrorsOf, validationFailed } from '../platform/errors.js';

/**
 * The common registry shape (Claude Desktop's `mcpServers`, the MCP registry's server entries): name, transport,
 * command/args or url, env and headers with `${VAR}` placeholders. Gatehouse's own extras ride along under
 * `x-gatehouse` so an export imports back unchanged.
 */
const RegistryServer = z.object({
  name: z.string().trim().min(1).max(128).optional(),
  description: z.string().trim().max(1000).optional(),
  transport: z.enum(['stdio', 'streamable-http', 'http', 'sse']).optional(),
  type: z.enum(['stdio', 'streamable-http', 'http', 'sse']).optional(),
  command: z.string().trim().min(1).max(1024).optional(),
  args: z.array(z.string().max(4096)).max(64).optional(),
  env: z.record(z.string().max(128), z.string().max(4096)).optional(),
  cwd: z.string().max(1024).optional(),
  url: z.string().trim().max(2048).optional(),
  headers: z.record(z.string().max(128), z.string().max(4096)).optional(),
  'x-gatehouse': z
    .object({
      isolation: McpConfig.shape.isolation.optional(),
      startMode: McpConfig.shape.startMode.optional(),
      credentials: z.array(CredentialField).max(32).optional(),
      timeouts: McpConfig.shape.timeouts.optional(),
      limits: McpConfig.shape.limits.optional(),
    })
    .optional(),
});
type RegistryServer = z.infer<typeof RegistryServer>;

const RegistryDocument = z.union([
  z.object({ mcpServers: z.record(z.string().max(128), RegistryServer) }),
  RegistryServer,
]);

const PLACEHOLDER = /\$\{([A-Za-z_][A-Za-z0-9_]{0,63})\}/g;

export interface ImportedMcp {
  name: string;
  description: string;
  suggestedSlug: string;
  config: McpConfigInput;
}

const slugify = (name: string) =>
  name
    .toLowerCase()
    .replace(/^@[^/]+\//, '')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 24)
    .replace(/-+$/, '') || 'mcp';

function readDocument(text: string): unknown {
  try {
    return parseYaml(text, { maxAliasCount: 20 });
  } catch (error) {
    throw validationFailed({ document: [`is neither valid JSON nor YAML: ${(error as Error).message}`] });
  }
}

/** Parses a registry document (JSON or YAML) into a catalog entry; `${VAR}` becomes a secret credential field. */
export function parseRegistryDocument(text: string): ImportedMcp {
  const parsed = RegistryDocument.safeParse(readDocument(text));
  if (!parsed.success) {
    throw validationFailed(
      fieldErrorsOf(parsed.error.issues, ['document']),
      'The document is not in the registry shape',
    );
  }
  let key: string | undefined;
  let server: RegistryServer;
  if ('mcpServers' in parsed.data) {
    const entries = Object.entries(parsed.data.mcpServers);
    if (entries.length !== 1) {
      throw validationFailed({
        'document.mcpServers': [`must hold exactly one server (found ${entries.length})`],
      });
    }
    [key, server] = entries[0] as [string, RegistryServer];
  } else {
    server = parsed.data;
  }
  const name = server.name ?? key;
  if (!name) throw validationFailed({ 'document.name': ['is required'] });

  const extras = server['x-gatehouse'];
  const fields = new Map<string, CredentialFieldType>(
    (extras?.credentials ?? []).map((field) => [field.name, field]),
  );
  const problems: Record<string, string[]> = {};
  const templated = (values: Record<string, string> | undefined, at: string) =>
    Object.fromEntries(
      Object.entries(values ?? {}).map(([k, value]) => [
        k,
        value.replace(PLACEHOLDER, (_, variable: string) => {
          if (!fields.has(variable)) {
            fields.set(variable, {
              name: variable,
              label: variable,
              help: `Imported from the \${${variable}} placeholder in ${at}.${k}`,
              secret: true,
              required: true,
              inject: null,
            });
          }
          return `{{credential:${variable}}}`;
        }),
      ]),
    );
  const noPlaceholders = (at: string, value: string | undefined) => {
    if (value && PLACEHOLDER.test(value)) {
      problems[at] = ['placeholders are only supported in env and headers'];
    }
    PLACEHOLDER.lastIndex = 0;
  };

  const declared = server.transport ?? server.type;
  const transport =
    declared === 'http' ? 'streamable-http' : (declared ?? (server.command ? 'stdio' : 'streamable-http'));
  let connection: McpConfigInput['connection'];
  if (transport === 'stdio') {
    if (!server.command) problems['document.command'] = ['is required for a stdio server'];
    noPlaceholders('document.command', server.command);
    server.args?.forEach((arg, index) => {
      noPlaceholders(`document.args.${index}`, arg);
    });
    connection = {
      transport,
      command: server.command ?? '',
      args: server.args ?? [],
      env: templated(server.env, 'env'),
      cwd: server.cwd ?? null,
    };
  } else {
    if (!server.url) problems['document.url'] = [`is required for a ${transport} server`];
    noPlaceholders('document.url', server.url);
    connection = { transport, url: server.url ?? '', headers: templated(server.headers, 'headers') };
  }
  if (Object.keys(problems).length > 0) throw validationFailed(problems, 'The document cannot be imported');
  return {
    name,
    description: server.description ?? '',
    suggestedSlug: slugify(key ?? name),
    config: {
      connection,
      isolation: extras?.isolation,
      startMode: extras?.startMode,
      credentials: [...fields.values()],
      timeouts: extras?.timeouts,
      limits: extras?.limits,
    },
  };
}

const toPlaceholders = (values: Record<string, string>) =>
  Object.fromEntries(
    Object.entries(values).map(([k, value]) => [
      k,
      value.replace(/\{\{credential:([A-Za-z0-9_]+)\}\}/g, (_, name: string) => `\${${name}}`),
    ]),
  );

/** The inverse of {@link parseRegistryDocument}: an `mcpServers` document keyed by slug. */
export function toRegistryDocument(entry: {
  slug: string;
  name: string;
  description: string;
  config: McpConfig;
}): string {
  const { connection, isolation, startMode, credentials, timeouts, limits } = entry.config;
  const server =
    connection.transport === 'stdio'
      ? {
          transport: connection.transport,
          command: connection.command,
          args: connection.args,
          env: toPlaceholders(connection.env),
          ...(connection.cwd !== null && { cwd: connection.cwd }),
        }
      : { transport: connection.transport, url: connection.url, headers: toPlaceholders(connection.headers) };
  const document = {
    mcpServers: {
      [entry.slug]: {
        name: entry.name,
        description: entry.description,
        ...server,
        'x-gatehouse': { isolation, startMode, credentials, timeouts, limits },
      },
    },
  };
  return JSON.stringify(document, null, 2);
}
