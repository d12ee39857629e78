# Sluice: two stages, so the image carries the compiled JavaScript and production dependencies only.

FROM node:24-slim AS build
WORKDIR /app
# The lockfile alone decides the dependency layer, so source edits do not reinstall.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts ./scripts
COPY src ./src
COPY sinks ./sinks
RUN npm run build

FROM node:24-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# The schema and default config are read at run time from the package root, next to package.json.
COPY config ./config
# The image's `node` user: nothing in Sluice needs root, and a pump.conf mounted read-only is enough.
USER node
EXPOSE 8083
# /live answers from the health port (health_check_endpoint_port, 8083 unless the config moves it).
# The slim image has no curl; node's own fetch does the probe.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8083/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The same node flags as the `sluice` command: V8 heap bounds, so memory stays inside `sluice.memory_budget_mb`
# plus the heap, and two V8 helper threads (README, Sizing).
ENTRYPOINT ["node", "--max-old-space-size=160", "--max-semi-space-size=4", "--v8-pool-size=2", "dist/src/cli/main.js"]
CMD ["--conf", "/etc/sluice/pump.conf"]
