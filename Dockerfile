# The Harbor node image: one image for a plain node, a node hosting the shutdown coordinator, or a
# node running your services; which one is configuration (HARBOR_* environment variables, or a
# properties file passed as `node --config FILE`). See "Run it in containers" in README.md.
#
# Build it from a checkout after packaging (the image takes the distribution Maven built):
#   ./mvnw -DskipTests package && docker build -t harbor-node .
# BASE_IMAGE is any image with a Java 21+ `java` on the PATH and a shell with useradd; the default is
# the public Eclipse Temurin JRE. CI passes one it builds locally from Debian packages and the build
# machine's JDK (.ci/base-image), so that nothing is pulled.
ARG BASE_IMAGE=eclipse-temurin:25-jre
FROM ${BASE_IMAGE}

# A fixed non-root user (numeric, so Kubernetes' runAsNonRoot can check it) owning only the state dir.
RUN groupadd --system --gid 10001 harbor \
 && useradd --system --uid 10001 --gid harbor --home-dir /var/lib/harbor --no-create-home --shell /usr/sbin/nologin harbor \
 && mkdir -p /var/lib/harbor /opt/harbor/services \
 && chown harbor:harbor /var/lib/harbor

# Dependencies first: they change less often than Harbor's own jars, so their layer is reused.
COPY distribution/target/lib/ /opt/harbor/lib/
COPY distribution/target/harbor.jar /opt/harbor/harbor.jar
COPY deploy/docker/harbor deploy/docker/harbor-health /usr/local/bin/

# The node's gRPC port (links between nodes, the admin API, the coordinator API); the coordinator's
# run record goes to the state dir (mount a volume there to keep it across restarts).
# The metrics port also serves GET /health and /ready, which the health check reads without a JVM.
ENV HARBOR_NODE_LISTEN=0.0.0.0:7700 \
    HARBOR_METRICS_LISTEN=0.0.0.0:9700 \
    HARBOR_COORDINATOR_STATE_DIR=/var/lib/harbor/coordinator
EXPOSE 7700 9700
USER 10001:10001
WORKDIR /var/lib/harbor

# Healthy while the node runs (GET /health on the metrics port, read by bash: milliseconds, no JVM).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["harbor-health"]

# `harbor` execs java, so the JVM is PID 1 and gets docker stop's SIGTERM itself: the node drains
# (through the coordinator if there is one), stops, and exits 0. Other commands work too:
# `docker run --rm harbor-node services --node host:7700`.
ENTRYPOINT ["harbor"]
CMD ["node"]
