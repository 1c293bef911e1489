import { ImportMcpInput, type McpDetail } from '@gatehouse/schema';
import { createSignal, For, Show } from 'solid-js';
import { createAction } from '../../lib/async.js';
import { fieldError, validate } from '../../lib/errors.js';
import { trpc } from '../../lib/trpc.js';
import { Dialog, DialogForm, Field, TextField } from '../../ui/index.js';
import { errorsAt, unclaimedErrors } from './mcp-form.js';

const MAX_DOCUMENT_BYTES = 64 * 1024;

/**
 * Imports one server from a registry document (Claude Desktop's `mcpServers`, an MCP registry entry), pasted or
 * read from a file, as a new draft MCP.
 */
export function ImportMcpDialog(props: { onClose: () => void; onImported: (mcp: McpDetail) => void }) {
  const [document, setDocument] = createSignal('');
  const [slug, setSlug] = createSignal('');
  const [fileProblem, setFileProblem] = createSignal<string>();
  const importing = createAction(async () => {
    const input = { document: document(), slug: slug().trim() || undefined };
    const checked = validate(ImportMcpInput, input);
    if (!checked.ok) throw checked.error;
    return trpc.catalog.import.mutate(input);
  });

  const submit = async () => {
    const mcp = await importing.run(undefined);
    if (mcp) props.onImported(mcp);
  };

  const readFile = async (file: File | undefined) => {
    setFileProblem(undefined);
    if (!file) return;
    if (file.size > MAX_DOCUMENT_BYTES) {
      setFileProblem(
        `${file.name} is larger than 64 KiB; a registry document for one server is much smaller`,
      );
      return;
    }
    try {
      setDocument(await file.text());
    } catch {
      setFileProblem(`${file.name} could not be read`);
    }
  };

  const documentErrors = () => errorsAt(importing.error()?.fieldErrors, 'document');
  const otherErrors = () => unclaimedErrors(importing.error()?.fieldErrors, ['document', 'slug']);

  return (
    <Dialog
      title="Import an MCP"
      onClose={props.onClose}
      size="lg"
      preventClose={importing.pending()}
      description="Paste a registry entry in JSON or YAML, or load it from a file. It is added as a draft; ${VAR} placeholders in env and headers become credential fields."
    >
      <DialogForm
        onSubmit={() => void submit()}
        onCancel={props.onClose}
        submitLabel="Import MCP"
        pending={importing.pending()}
        error={importing.error()}
      >
        <Field label="Load from a file" error={fileProblem()}>
          {(frame) => (
            <input
              id={frame.id}
              class="input"
              type="file"
              accept=".json,.yaml,.yml,application/json,application/yaml,text/yaml,text/plain"
              aria-invalid={frame.invalid ? 'true' : undefined}
              aria-describedby={frame.describedBy}
              onChange={(event) => void readFile(event.currentTarget.files?.[0])}
            />
          )}
        </Field>
        <TextField
          class="cat-code-field"
          label="Document"
          value={document()}
          onInput={setDocument}
          rows={12}
          spellcheck={false}
          required
          maxLength={MAX_DOCUMENT_BYTES}
          placeholder={
            '{\n  "mcpServers": {\n    "github": { "command": "npx", "args": ["-y", "@modelcontextprotocol/server-github"] }\n  }\n}'
          }
          error={documentErrors()}
        />
        <TextField
          label="Slug"
          value={slug()}
          onInput={setSlug}
          autocomplete="off"
          spellcheck={false}
          maxLength={24}
          hint="Optional: derived from the server's name when blank."
          error={fieldError(importing.error(), 'slug')}
        />
        <Show when={otherErrors().length > 0}>
          <div class="field-error">
            <For each={otherErrors()}>{(message) => <p>{message}</p>}</For>
          </div>
        </Show>
      </DialogForm>
    </Dialog>
  );
}
