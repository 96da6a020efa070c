# The image the Argo templates under deploy/argo/ run (issue 13): seedc and its runtime
# dependencies only (no dev extras), the committed plans and manifests, a non-root user.
# Checked statically in tests/test_deploy_argo.py (no container engine in CI here).
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY seedc ./seedc
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY --from=build /install /usr/local
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin seedc
WORKDIR /work
COPY --chown=root:root plans ./plans
COPY --chown=root:root manifests ./manifests
USER 10001
ENTRYPOINT ["seedc"]
