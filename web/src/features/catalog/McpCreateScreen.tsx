import { Show } from 'solid-js';
import { createAction, createQuery } from '../../lib/async.js';
import { showFlash } from '../../lib/flash.js';
import { navigate, paths } from '../../lib/router.js';
import { canManage } from '../../lib/session.js';
import { trpc } from '../../lib/trpc.js';
import { Notice, PageHeader } from '../../ui/index.js';
import { McpForm } from './McpForm.js';
import { createInputFromForm, emptyMcpForm, invalidForm, type McpFormValues } from './mcp-form.js';

/** Adds an MCP as a draft: its first config version, to be validated, discovered and published next. */
export function McpCreateScreen() {
  const groups = createQuery(
    () => canManage(),
    () => trpc.groups.list.query(),
  );
  const create = createAction((input: Parameters<typeof trpc.catalog.create.mutate>[0]) =>
    trpc.catalog.create.mutate(input),
  );

  const submit = async (values: McpFormValues) => {
    const checked = createInputFromForm(values);
    if (!checked.ok) return create.setError(invalidForm(checked.fieldErrors));
    const mcp = await create.run(checked.input);
    if (!mcp) return;
    showFlash(`MCP ${mcp.name} was created as a draft. Validate it next.`, paths.mcp(mcp.id));
    navigate(paths.mcp(mcp.id));
  };

  return (
    <>
      <a class="back-link" href={paths.mcps}>
        ← All MCPs
      </a>
      <PageHeader
        title="New MCP"
        description="Describe how Gatehouse reaches the MCP server. It starts as a draft: validate it, discover its tools, then publish it."
      />
      <Show when={canManage()} fallback={<Notice tone="info">Only admins can add MCPs.</Notice>}>
        <McpForm
          mode="create"
          initial={emptyMcpForm()}
          groups={{
            get items() {
              return groups.data()?.items;
            },
            get loading() {
              return groups.loading();
            },
            get error() {
              return groups.error();
            },
          }}
          submitLabel="Create MCP"
          pending={create.pending()}
          error={create.error()}
          onSubmit={(values) => void submit(values)}
          onCancel={() => navigate(paths.mcps)}
        />
      </Show>
    </>
  );
}
