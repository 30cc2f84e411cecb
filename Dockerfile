# Multi-stage: compile with the full toolchain, run on a slim image as a
# non-root user. `node` is PID 1 and handles SIGTERM itself (graceful drain),
# so `docker stop` shuts a node down cleanly.
FROM node:20-bookworm-slim AS build
WORKDIR /app
RUN npm i -g pnpm@12.4.2
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
RUN pnpm install --frozen-lockfile
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN pnpm build

FROM node:20-bookworm-slim AS deps
WORKDIR /app
RUN npm i -g pnpm@12.4.2
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
RUN pnpm install --frozen-lockfile --prod

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production \
    ADDR=0.0.0.0:8080
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
USER node
EXPOSE 8080
ENTRYPOINT ["node", "dist/main.js"]
