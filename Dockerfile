# syntax=docker/dockerfile:1
#
# Gatehouse container image. The server runs its TypeScript sources through tsx (no server build step);
# the portal is built into web/dist. Run it with a read-only root filesystem, /data on a volume and a
# tmpfs on /tmp (tsx keeps its compile cache there), as compose.yaml does:
#
#   docker build -t gatehouse .
#   docker run --read-only --tmpfs /tmp -v gatehouse-data:/data -p 9443:9443 -p 8443:8443 \
#     -e DATABASE_URL=postgresql://... gatehouse
#
# Without DATABASE_URL the server starts embedded PostgreSQL under /data/postgres.
# Other commands: `docker run ... gatehouse migrate`, `docker run ... gatehouse audit verify`.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- base: pnpm and the workspace manifests (dependency layers rebuild only when these change) ----
FROM ${NODE_IMAGE} AS base
ARG PNPM_VERSION=10.34.9
# CI=true: pnpm never waits for a TTY prompt.
ENV CI=true
RUN npm install -g --no-fund --no-audit pnpm@${PNPM_VERSION}
WORKDIR /app
# Keep this list in step with pnpm-workspace.yaml.
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY schema/package.json schema/
COPY server/package.json server/
COPY web/package.json web/
COPY sdk/package.json sdk/
COPY migrations/package.json migrations/

# ---- build: every dependency, then the portal (web/dist) and the SDK ----
FROM base AS build
RUN --mount=type=cache,id=gatehouse-pnpm-store,target=/pnpm-store \
    pnpm install --frozen-lockfile --store-dir /pnpm-store
COPY . .
RUN pnpm build

# ---- prod-deps: runtime dependencies only (no Vite, Biome, TypeScript or vitest) ----
FROM base AS prod-deps
RUN --mount=type=cache,id=gatehouse-pnpm-store,target=/pnpm-store \
    pnpm install --frozen-lockfile --prod --store-dir /pnpm-store

# ---- runtime ----
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    GATEHOUSE_DATA_DIR=/data \
    GATEHOUSE_HOST=0.0.0.0 \
    TLS=self-signed
WORKDIR /app
# pnpm links are relative symlinks, so the layout under /app must match the workspace's.
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=prod-deps /app/schema/node_modules ./schema/node_modules
COPY --from=prod-deps /app/migrations/node_modules ./migrations/node_modules
COPY --from=prod-deps /app/server/node_modules ./server/node_modules
COPY package.json pnpm-workspace.yaml tsconfig.json ./
COPY schema/package.json schema/tsconfig.json ./schema/
COPY schema/src ./schema/src
COPY migrations/package.json migrations/tsconfig.json ./migrations/
COPY migrations/src ./migrations/src
COPY server/package.json server/tsconfig.json ./server/
COPY server/src ./server/src
COPY --from=build /app/web/dist ./web/dist
# Everything above stays root-owned and read-only to the server; only /data belongs to it.
RUN mkdir -p /data && chown node:node /data && chmod 700 /data
USER node
VOLUME ["/data"]
# 8443: client listener (MCP endpoint, health). 9443: portal listener (tRPC, portal, health).
EXPOSE 8443 9443
WORKDIR /app/server
# Ready = database reachable and no pending migration. Tries HTTPS (any certificate), then plain HTTP.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["node", "-e", "const port = process.env.GATEHOUSE_PORTAL_PORT || 9443; const probe = (mod, extra) => new Promise((done) => { const req = require(mod).get({ host: '127.0.0.1', port, path: '/readyz', timeout: 4000, ...extra }, (res) => { res.resume(); done(res.statusCode); }); req.on('timeout', () => req.destroy()); req.on('error', () => done(0)); }); probe('https', { rejectUnauthorized: false }).then((s) => s || probe('http', {})).then((s) => process.exit(s === 200 ? 0 : 1));"]
ENTRYPOINT ["node", "--import", "tsx", "src/cli.ts"]
CMD ["start"]
