# syntax=docker/dockerfile:1
# Berth: build the TypeScript, then a slim Node runtime with production dependencies only.

FROM node:20.19-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 builds its native addon here when no prebuilt binary matches.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
RUN npx tsc -p tsconfig.build.json \
 && npm prune --omit=dev

# The registry binary, so core can run registry maintenance (garbage-collect) on the shared storage volume.
FROM registry:2.8.3 AS registry

FROM node:20.19-bookworm-slim
# squashfs-tools: unsquashfs reads the system partition of Apptainer/Singularity SIF files when they are scanned.
# zstd: decodes zstd layers for the scanner, faster than its built-in JavaScript decoder (the fallback without it).
RUN apt-get update \
 && apt-get install -y --no-install-recommends squashfs-tools zstd \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 berth \
 && useradd --system --uid 10001 --gid berth --home-dir /var/lib/berth --shell /usr/sbin/nologin berth \
 && mkdir -p /var/lib/berth /var/lib/registry /etc/berth-registry /etc/berth-tls \
 && chown berth:berth /var/lib/berth /var/lib/registry /etc/berth-registry /etc/berth-tls
WORKDIR /app
COPY --from=registry /bin/registry /usr/local/bin/docker-registry
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY src/views ./dist/src/views
COPY static ./dist/static
ENV NODE_ENV=production \
    PORT=8080 \
    BERTH_LISTEN=0.0.0.0 \
    BERTH_DATA_DIR=/var/lib/berth \
    BERTH_REGISTRY_BIN=/usr/local/bin/docker-registry
USER berth
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=10s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/livez').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/src/main.js"]
