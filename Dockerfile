# syntax=docker/dockerfile:1
#
# quorum-cache node image. Three stages: compile with every dependency, install
# the production dependencies alone, then copy both into a slim runtime image
# that runs as a non-root user.
#
#   docker build -t quorum-cache:latest .
#   docker run --rm -p 8080:8080 -p 9080:9080 -e CLUSTER_SECRET=$(openssl rand -hex 32) \
#     -e ADMIN_TOKEN=$(openssl rand -hex 32) quorum-cache:latest
#
# Settings come from the environment (README, "Settings"). The defaults below
# suit a container: gRPC and the admin server bind every interface, so a node
# refuses to start unless its peers authenticate: CLUSTER_SECRET (16 bytes or
# more) or PEER_TLS_CA_FILE/PEER_TLS_CERT_FILE/PEER_TLS_KEY_FILE (mutual TLS,
# certificates mounted read-only); and its admin API asks for ADMIN_TOKEN (or
# ADMIN_TOKEN_FILE, a mounted secret), given at run time: the image holds
# none. A cluster member must also set ADDR to the name its peers reach it by
# (cacheN:8080) and PEERS.

ARG NODE_IMAGE=node:20-bookworm-slim
ARG PNPM_VERSION=12.4.2

# ---- build: full dependencies, `pnpm build` -> dist/ ------------------------
FROM ${NODE_IMAGE} AS build
ARG PNPM_VERSION
ENV CI=true
WORKDIR /app
RUN npm install --global pnpm@${PNPM_VERSION}
# pnpm-workspace.yaml carries allowBuilds (which dependencies may run install
# scripts), so it must be there for the install.
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
RUN pnpm install --frozen-lockfile
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN pnpm build

# ---- deps: production dependencies only --------------------------------------
FROM ${NODE_IMAGE} AS deps
ARG PNPM_VERSION
ENV CI=true
WORKDIR /app
RUN npm install --global pnpm@${PNPM_VERSION}
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
RUN pnpm install --frozen-lockfile --prod

# ---- runtime -----------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    LISTEN_ADDR=0.0.0.0:8080 \
    ADMIN_ADDR=0.0.0.0:9080 \
    LOG_FORMAT=json
WORKDIR /app
# Owned by root and read-only to the node user: the process writes no files.
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY deploy/healthcheck.mjs ./healthcheck.mjs
# The image's `node` user, by number so that Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
# 8080: gRPC (clients and peers); 9080: admin HTTP (/healthz, /readyz, /metrics, /rpc).
EXPOSE 8080 9080
# Exec form: node is PID 1 and receives SIGTERM itself; it drains calls
# (DRAIN_TIMEOUT), hands its data over (HANDOFF_TIMEOUT), leaves, exits 0.
# Give `docker stop -t` / stop_grace_period / terminationGracePeriodSeconds
# more than the two together, or the hand-off is cut short by SIGKILL.
STOPSIGNAL SIGTERM
# Healthy once the node has joined and holds its ranges (GET /readyz on the
# admin port, found from ADMIN_ADDR as the node finds it). A node pulling its
# ranges from the others is not ready yet, hence the long start period.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "/app/healthcheck.mjs"]
ENTRYPOINT ["node", "dist/main.js"]
