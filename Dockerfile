# syntax=docker/dockerfile:1
# Snowflake ID service: build with the full toolchain, run compiled JavaScript only.

ARG NODE_IMAGE=node:20-bookworm-slim

# --- build: compile TypeScript -------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY proto ./proto
COPY src ./src
RUN npm run build

# --- deps: production dependencies only ----------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# --- runtime -------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    SNOWFLAKE_STATE_DIR=/var/lib/snowflake
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
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
