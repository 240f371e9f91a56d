# promconf's container image: built on Debian 12 with the same packages as
# every developer and CI (hack/install-deps.sh --build), run on debian:12-slim
# with only the shared libraries promconf links.
#
#   docker build -t ghcr.io/promconf/promconf:0.1.0 .
#
# In step with charts/promconf: the tag is the chart's appVersion (and
# CMake's project VERSION), the user is UID/GID 10001 (podSecurityContext),
# the entrypoint takes the flags the chart passes. Nothing at run time needs
# a shell: the entrypoint is exec form.

FROM debian:12 AS build
WORKDIR /src
COPY hack/install-deps.sh hack/install-deps.sh
RUN hack/install-deps.sh --build && rm -rf /var/lib/apt/lists/*
COPY . .
RUN rm -rf build \
 && cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DPROMCONF_BUILD_BENCH=OFF \
 && cmake --build build -j"$(nproc)" --target promconf \
 && strip build/promconf

FROM debian:12-slim
# One package per shared library that `ldd build/promconf` lists, found with
# `dpkg -S` (tests/integration/chart_test.cc checks this list against the
# binary), plus ca-certificates for HTTPS backends with public CAs.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libabsl20220623 libbrotli1 libc6 libcivetweb1 libcom-err2 libcurl4 libffi8 \
      libgcc-s1 libgmp10 libgnutls30 libgssapi-krb5-2 libhogweed6 libidn2-0 \
      libk5crypto3 libkeyutils1 libkrb5-3 libkrb5support0 libldap-2.5-0 libnettle8 \
      libnghttp2-14 libp11-kit0 libprometheus-cpp-core1.0 libpsl5 libre2-9 librtmp1 \
      libsasl2-2 libsimdjson14 libssh2-1 libssl3 libstdc++6 libtasn1-6 \
      libunistring2 libyaml-cpp0.7 libzookeeper-mt2 libzstd1 zlib1g \
      ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 promconf \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin promconf
COPY --from=build /src/build/promconf /usr/bin/promconf
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["/usr/bin/promconf"]
CMD ["--config.file=/etc/promconf/promconf.yml"]
