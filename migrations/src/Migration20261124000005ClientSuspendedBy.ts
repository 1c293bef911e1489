import { Migration } from '@mikro-orm/migrations';

export class Migration20261124000005ClientSuspendedBy extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "mcp_client" add column "suspended_by" varchar(48) null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "mcp_client" drop column "suspended_by";`);
  }
}
