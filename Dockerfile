# syntax=docker/dockerfile:1
#
# dash-farm-proxy container image: TypeScript is compiled in a build stage; the runtime stage holds only
# the compiled dist/ and the production dependencies, on Node.js 24 LTS (Debian bookworm, slim), and runs
# as the unprivileged user `node` (uid 1000) that the official image provides.
#
#   docker build -t dash-farm-proxy .
#   docker run -d --name dash-proxy -p 3333:3333 -p 8080:8080 \
#     -v "$PWD/proxy.json:/etc/dash-farm-proxy/proxy.json:ro" dash-farm-proxy
#
# The configuration is read from /etc/dash-farm-proxy/proxy.json: mount yours there. The image ships an
# empty one ({}), so every field can also come from DASH_PROXY_* environment variables alone, e.g.
# -e DASH_PROXY_POOLS='[{"url":"stratum+tcp://pool:3333","user":"Xaddr.farm"}]'.

# ---- build: all dependencies, compile src/ to dist/ -------------------------------------------------------
FROM node:24-bookworm-slim AS build
# better-sqlite3 (the ledger) is a native module: npm builds it from source with these when its prebuilt
# binary cannot be downloaded. Only this stage has compilers; the runtime stage takes the built module.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# ---- runtime: production dependencies and dist/ only ------------------------------------------------------
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force \
 && mkdir -p /etc/dash-farm-proxy \
 && echo '{}' > /etc/dash-farm-proxy/proxy.json \
 && mkdir -p /var/lib/dash-farm-proxy && chown node:node /var/lib/dash-farm-proxy
COPY --from=build /app/dist ./dist
# The runtime install skips install scripts (no compilers here): better-sqlite3's native binary, built for
# this same Node image, comes from the build stage.
COPY --from=build /app/node_modules/better-sqlite3/build ./node_modules/better-sqlite3/build

LABEL org.opencontainers.image.title="dash-farm-proxy" \
      org.opencontainers.image.description="Stratum V1 proxy and share aggregator for Dash (X11) mining farms" \
      org.opencontainers.image.licenses="MIT"

USER node

# 3333: Stratum for the devices (listen.port). 8080: /metrics, /api, the dashboard, /healthz, /readyz (http.port).
EXPOSE 3333 8080

# Liveness from inside the container, with node itself (slim images have no curl). The port follows
# DASH_PROXY_HTTP_PORT when that is how http.port was changed; /healthz never needs the API token.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.DASH_PROXY_HTTP_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# The same entry the tests run (test/deploy/entrypoint.test.ts). A CMD, not an ENTRYPOINT, so that
# `command:` in config/compose.yaml replaces it instead of being appended to it. SIGTERM stops the proxy
# gracefully (devices are told to reconnect, pending pool answers are awaited).
CMD ["node", "dist/cli.js", "start", "--config", "/etc/dash-farm-proxy/proxy.json"]
