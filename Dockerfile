# syntax=docker/dockerfile:1
# Snowflake ID service: build with the full toolchain, run compiled JavaScript only.

# Node.js 24 LTS (supported until April 2028) on Debian 12, pinned by digest: every build starts from the
# same bytes, and a moved tag cannot slip in; the tag says which release the digest is. The digest is
# the multi-platform index (amd64, arm64, …). Update tag and digest together, e.g. from
# `docker buildx imagetools inspect node:24-bookworm-slim`.
# A glibc (Debian) image: the state-dir lock's addon (fs-native-extensions) ships glibc prebuilds in its npm
# package, which `npm ci` copies as they are (no install script, no compiler); it has none for Alpine's musl.
ARG NODE_IMAGE=docker.io/library/node:24.20.0-bookworm-slim@sha256:ba849c60be29959425b8734d57b8b4b7d56f98edd9504c9af091d5281095a71e

# --- build: compile TypeScript -------------------------------------------------------------------
# An npm workspace: the service and the client package (packages/client), which the service imports its
# contract from. Scripts are skipped at install (prepare would build before the sources are here); no
# runtime dependency needs one (protobufjs' postinstall only checks its CLI's versions).
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/client/package.json ./packages/client/
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY packages/client/tsconfig.json packages/client/tsconfig.build.json ./packages/client/
COPY packages/client/scripts ./packages/client/scripts
COPY packages/client/src ./packages/client/src
COPY proto ./proto
COPY src ./src
RUN npm run build

# --- deps: production dependencies only ----------------------------------------------------------
# node_modules/@snowflake-id/client is a link to packages/client, filled from the build stage below.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/client/package.json ./packages/client/
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# --- runtime -------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ARG NODE_IMAGE
# Pass these when building a release:
#   --build-arg REVISION=$(git rev-parse HEAD) --build-arg CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
#   --build-arg SOURCE=<repository URL>
# VERSION follows package.json (a test checks it).
ARG VERSION=0.1.0
ARG REVISION=
ARG CREATED=
ARG SOURCE=
LABEL org.opencontainers.image.title="snowflake-id-service" \
      org.opencontainers.image.description="gRPC service that issues unique, time-sortable 64-bit snowflake IDs" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="${NODE_IMAGE}"
ENV NODE_ENV=production \
    SNOWFLAKE_STATE_DIR=/var/lib/snowflake
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/packages/client/dist ./packages/client/dist
COPY --from=build /app/packages/client/proto ./packages/client/proto
COPY package.json ./
COPY packages/client/package.json ./packages/client/
COPY proto ./proto
# The timestamp reservation lives here; mount a persistent volume so restarts never repeat IDs.
RUN mkdir -p /var/lib/snowflake && chown node:node /var/lib/snowflake
VOLUME ["/var/lib/snowflake"]
# The image's built-in unprivileged user (uid 1000).
USER node
# gRPC (SNOWFLAKE_GRPC_ADDR) and Prometheus /metrics (SNOWFLAKE_METRICS_ADDR).
EXPOSE 50051 9464
# Calls grpc.health.v1.Health/Check on 127.0.0.1 (port taken from SNOWFLAKE_GRPC_ADDR); exit 0 only when SERVING.
# Over TLS when SNOWFLAKE_TLS_CERT_FILE is set (with a client certificate under mutual TLS).
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["node", "dist/healthcheck.js"]
# node is PID 1 and handles SIGTERM itself: health NOT_SERVING, drain, exit.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/main.js"]
