import {
  CreateGroupInput,
  type Group,
  type GroupDetail,
  type ListUsersInput,
  UpdateGroupInput,
  type User,
} from '@gatehouse/schema';
import { createSignal, For, Show } from 'solid-js';
import { createAction, createDebounced, createQuery } from '../../lib/async.js';
import { fieldError, validate } from '../../lib/errors.js';
import { plural } from '../../lib/format.js';
import { trpc } from '../../lib/trpc.js';
import { Button, ConfirmDialog, Dialog, DialogForm, ErrorNotice, Form, TextField } from '../../ui/index.js';

/** "All users (12)" for the built-in group, "3 members" otherwise. */
export function memberSummary(group: Group) {
  return group.builtIn ? `All users (${group.memberCount})` : plural(group.memberCount, 'member');
}

const nameHint = 'Lowercase letters, digits, dot, dash and underscore.';

/** Creates a group, or edits one when `group` is given (the built-in group keeps its name). */
export function GroupFormDialog(props: {
  group?: Group;
  onClose: () => void;
  onSaved: (group: Group) => void;
}) {
  const [name, setName] = createSignal(props.group?.name ?? '');
  const [description, setDescription] = createSignal(props.group?.description ?? '');
  const save = createAction(async () => {
    const existing = props.group;
    if (existing) {
      const input = {
        id: existing.id,
        ...(existing.builtIn ? {} : { name: name() }),
        description: description(),
      };
      const checked = validate(UpdateGroupInput, input);
      if (!checked.ok) throw checked.error;
      return trpc.groups.update.mutate(input);
    }
    const input = { name: name(), description: description() };
    const checked = validate(CreateGroupInput, input);
    if (!checked.ok) throw checked.error;
    return trpc.groups.create.mutate(input);
  });

  const submit = async () => {
    const group = await save.run(undefined);
    if (group) props.onSaved(group);
  };

  return (
    <Dialog
      title={props.group ? `Edit group ${props.group.name}` : 'New group'}
      onClose={props.onClose}
      preventClose={save.pending()}
    >
      <DialogForm
        onSubmit={() => void submit()}
        onCancel={props.onClose}
        submitLabel={props.group ? 'Save changes' : 'Create group'}
        pending={save.pending()}
        error={save.error()}
      >
        <TextField
          label="Name"
          value={name()}
          onInput={setName}
          autocomplete="off"
          spellcheck={false}
          required
          disabled={props.group?.builtIn}
          hint={props.group?.builtIn ? 'The built-in group cannot be renamed.' : nameHint}
          error={fieldError(save.error(), 'name')}
        />
        <TextField
          label="Description"
          value={description()}
          onInput={setDescription}
          rows={3}
          maxLength={1000}
          error={fieldError(save.error(), 'description')}
        />
      </DialogForm>
    </Dialog>
  );
}

/**
 * Finds users by name and adds them one at a time; stays open so several can be added. Existing members are
 * marked rather than hidden, so a search never looks empty by mistake.
 */
export function AddMemberDialog(props: {
  group: GroupDetail;
  onClose: () => void;
  onAdded: (user: User) => void;
}) {
  const [searchText, setSearchText] = createSignal('');
  const [search, applySearch] = createDebounced(searchText, 250);
  const [added, setAdded] = createSignal<string[]>([]);
  const results = createQuery(
    (): ListUsersInput => ({ search: search().trim() || undefined, limit: 20, offset: 0 }),
    (input) => trpc.users.list.query(input),
  );
  const add = createAction(async (user: User) => {
    await trpc.groups.addMember.mutate({ groupId: props.group.id, userId: user.id });
    return user;
  });
  const isMember = (user: User) =>
    added().includes(user.id) || props.group.members.some((member) => member.id === user.id);

  const addUser = async (user: User) => {
    const done = await add.run(user);
    if (done) {
      setAdded((ids) => [...ids, done.id]);
      props.onAdded(done);
    }
  };

  return (
    <Dialog
      title={`Add members to ${props.group.name}`}
      onClose={props.onClose}
      size="lg"
      preventClose={add.pending()}
    >
      <Form class="dialog-form" aria-label="Find users" onSubmit={() => applySearch(searchText())}>
        <div class="dialog-body">
          <TextField
            label="Find users"
            type="search"
            value={searchText()}
            onInput={setSearchText}
            placeholder="Username, name or email"
            autocomplete="off"
            maxLength={128}
            autofocus
          />
          <ErrorNotice error={results.error()} title="Users could not be loaded" />
          <ErrorNotice error={add.error()} title="The member could not be added" />
          <ul
            class="pick-list"
            aria-label="Matching users"
            aria-busy={results.loading() ? 'true' : undefined}
          >
            <Show
              when={(results.data()?.items.length ?? 0) > 0}
              fallback={
                <li class="pick-list-empty">
                  {results.loading() ? 'Searching…' : 'No users match this search.'}
                </li>
              }
            >
              <For each={results.data()?.items}>
                {(user) => (
                  <li>
                    <span>
                      <span class="cell-primary">{user.displayName}</span>
                      <span class="cell-secondary">
                        {user.username} · {user.email}
                      </span>
                    </span>
                    <Show when={!isMember(user)} fallback={<span class="muted">Member</span>}>
                      <Button
                        size="sm"
                        aria-label={`Add ${user.username}`}
                        busy={add.pending()}
                        onClick={() => void addUser(user)}
                      >
                        Add
                      </Button>
                    </Show>
                  </li>
                )}
              </For>
            </Show>
          </ul>
          <Show when={(results.data()?.total ?? 0) > (results.data()?.items.length ?? 0)}>
            <p class="field-hint">
              Showing the first {results.data()?.items.length} matches; refine the search to find others.
            </p>
          </Show>
        </div>
        <div class="dialog-actions">
          <Button variant="primary" onClick={() => props.onClose()} disabled={add.pending()}>
            Done
          </Button>
        </div>
      </Form>
    </Dialog>
  );
}

export function DeleteGroupDialog(props: { group: Group; onClose: () => void; onDeleted: () => void }) {
  return (
    <ConfirmDialog
      title={`Delete group ${props.group.name}?`}
      confirmLabel="Delete group"
      danger
      onClose={props.onClose}
      onConfirm={async () => {
        await trpc.groups.delete.mutate({ id: props.group.id });
        props.onDeleted();
      }}
    >
      <p>
        The group and its {plural(props.group.memberCount, 'membership')} are removed. The users themselves
        are not affected.
      </p>
    </ConfirmDialog>
  );
}
