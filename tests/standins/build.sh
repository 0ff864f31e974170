#!/usr/bin/env bash
# Builds the stand-ins for software that no package registry has, into OUT (default: the lab's
# apt repo, /var/tmp/lab/repo, which the lab serves over http and indexes on `up.sh`):
#   otelcol-contrib_0.140.0_all.deb  /usr/bin/otelcol-contrib (whose `validate` checks the
#                                    config), its user, config and unit, as upstream's .deb
#   grafana_12.0.0_all.deb           grafana-server, its user, provisioning dir and unit
#   tempo/v2.8.2/tempo_2.8.2_linux_amd64.tar.gz + SHA256SUMS   a Tempo-like release tarball
#   wheels/                          the OpenTelemetry Python packages (pip download), for
#                                    hosts without an index (skipped with STANDINS_NO_WHEELS=1)
# Usage: tests/standins/build.sh [OUT]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-/var/tmp/lab/repo}
mkdir -p "$OUT"

fresh() {  # fresh TARGET SOURCE: true when TARGET exists and is newer than SOURCE
    [ -e "$1" ] && [ "$1" -nt "$2" ]
}

build_otelcol() {
    local v=0.140.0 d
    fresh "$OUT/otelcol-contrib_${v}_all.deb" "$HERE/otelcol-contrib" && return 0
    d=$(mktemp -d); chmod 0755 "$d"
    mkdir -p "$d/DEBIAN" "$d/usr/bin" "$d/etc/otelcol-contrib" "$d/lib/systemd/system"
    install -m 0755 "$HERE/otelcol-contrib" "$d/usr/bin/otelcol-contrib"
    cat > "$d/etc/otelcol-contrib/config.yaml" <<'YAML'
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:4317
      http:
        endpoint: 127.0.0.1:4318
exporters:
  debug: {}
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
YAML
    echo 'OTELCOL_OPTIONS="--config=/etc/otelcol-contrib/config.yaml"' > "$d/etc/otelcol-contrib/otelcol-contrib.conf"
    cat > "$d/lib/systemd/system/otelcol-contrib.service" <<'UNIT'
[Unit]
Description=OpenTelemetry Collector Contrib
After=network.target

[Service]
EnvironmentFile=/etc/otelcol-contrib/otelcol-contrib.conf
ExecStart=/usr/bin/otelcol-contrib $OTELCOL_OPTIONS
KillMode=mixed
Restart=on-failure
Type=simple
User=otelcol-contrib
Group=otelcol-contrib

[Install]
WantedBy=multi-user.target
UNIT
    cat > "$d/DEBIAN/control" <<CONTROL
Package: otelcol-contrib
Version: $v
Architecture: all
Maintainer: rig lab <lab@localhost>
Depends: python3, python3-yaml
Priority: optional
Section: net
Description: stand-in for the OpenTelemetry Collector Contrib (rig's lab)
 Checks configs like the real collector's validate command and listens on its ports.
CONTROL
    printf '/etc/otelcol-contrib/config.yaml\n/etc/otelcol-contrib/otelcol-contrib.conf\n' > "$d/DEBIAN/conffiles"
    cat > "$d/DEBIAN/preinst" <<'SH'
#!/bin/sh
set -e
getent group otelcol-contrib >/dev/null || groupadd --system otelcol-contrib
getent passwd otelcol-contrib >/dev/null || useradd --system --gid otelcol-contrib --no-create-home --shell /sbin/nologin otelcol-contrib
SH
    cat > "$d/DEBIAN/postinst" <<'SH'
#!/bin/sh
set -e
if command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload || true
    systemctl enable otelcol-contrib.service || true
    if [ -f /etc/otelcol-contrib/config.yaml ]; then systemctl restart otelcol-contrib.service || true; fi
fi
SH
    chmod 0755 "$d/DEBIAN/preinst" "$d/DEBIAN/postinst"
    dpkg-deb --root-owner-group --build "$d" "$OUT/otelcol-contrib_${v}_all.deb" >/dev/null
    rm -rf "$d"
}

build_grafana() {
    local v=12.0.0 d
    fresh "$OUT/grafana_${v}_all.deb" "$HERE/grafana-server" && return 0
    d=$(mktemp -d); chmod 0755 "$d"
    mkdir -p "$d/DEBIAN" "$d/usr/sbin" "$d/etc/grafana/provisioning/datasources" "$d/lib/systemd/system"
    install -m 0755 "$HERE/grafana-server" "$d/usr/sbin/grafana-server"
    cat > "$d/lib/systemd/system/grafana-server.service" <<'UNIT'
[Unit]
Description=Grafana instance
After=network.target

[Service]
User=grafana
Group=grafana
ExecStart=/usr/sbin/grafana-server
Restart=on-failure

[Install]
WantedBy=multi-user.target
UNIT
    cat > "$d/DEBIAN/control" <<CONTROL
Package: grafana
Version: $v
Architecture: all
Maintainer: rig lab <lab@localhost>
Depends: python3, python3-yaml
Priority: optional
Section: net
Description: stand-in for Grafana (rig's lab)
 Reads the provisioning datasources and listens on :3000.
CONTROL
    cat > "$d/DEBIAN/preinst" <<'SH'
#!/bin/sh
set -e
getent group grafana >/dev/null || groupadd --system grafana
getent passwd grafana >/dev/null || useradd --system --gid grafana --home-dir /usr/share/grafana --no-create-home --shell /bin/false grafana
SH
    cat > "$d/DEBIAN/postinst" <<'SH'
#!/bin/sh
set -e
chgrp -R grafana /etc/grafana
if command -v systemctl >/dev/null 2>&1; then systemctl daemon-reload || true; fi
SH
    chmod 0755 "$d/DEBIAN/preinst" "$d/DEBIAN/postinst"
    dpkg-deb --root-owner-group --build "$d" "$OUT/grafana_${v}_all.deb" >/dev/null
    rm -rf "$d"
}

build_tempo() {
    local v=2.8.2 d rel="$OUT/tempo/v2.8.2"
    mkdir -p "$rel"
    fresh "$rel/tempo_${v}_linux_amd64.tar.gz" "$HERE/tempo" && return 0
    d=$(mktemp -d)
    install -m 0755 "$HERE/tempo" "$d/tempo"
    printf 'Stand-in for Grafana Tempo %s, built for the rig lab.\n' "$v" > "$d/README.md"
    printf 'The real Tempo is AGPL-3.0; this stand-in is MIT.\n' > "$d/LICENSE"
    tar --owner=0 --group=0 --mtime='2026-01-01 00:00:00' -C "$d" -czf "$rel/tempo_${v}_linux_amd64.tar.gz" tempo README.md LICENSE
    ( cd "$rel" && sha256sum "tempo_${v}_linux_amd64.tar.gz" > SHA256SUMS )
    rm -rf "$d"
}

build_wheels() {
    [ -n "${STANDINS_NO_WHEELS:-}" ] && return 0
    [ -e "$OUT/wheels/.done" ] && return 0
    mkdir -p "$OUT/wheels"
    python3 -m pip download -q --only-binary=:all: --python-version 3.11 \
        --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform any \
        -d "$OUT/wheels" opentelemetry-api opentelemetry-sdk opentelemetry-exporter-otlp \
        opentelemetry-instrumentation-flask opentelemetry-instrumentation-sqlalchemy \
        opentelemetry-instrumentation-requests setuptools wheel
    touch "$OUT/wheels/.done"
}

build_otelcol
build_grafana
build_tempo
build_wheels
echo "stand-ins ready in $OUT"
